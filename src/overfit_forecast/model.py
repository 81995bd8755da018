"""The small CNN trained in every run of the sweep."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks and a two-layer classifier head, for 1x28x28 inputs.

    Layout (``w`` = ``width``)::

        conv3x3(1->w) ReLU maxpool2 -> conv3x3(w->2w) ReLU maxpool2 -> flatten (2w*7*7)
        -> dropout(p) -> linear(2w*7*7 -> hidden) ReLU -> dropout(p) -> linear(hidden -> 10)

    The same shape as pytorch/examples ``mnist/main.py`` scaled down, with padding so the
    spatial size halves exactly (28 -> 14 -> 7).

    Parameters
    ----------
    width : int
        Channels of the first conv layer (the second has ``2 * width``).
    dropout : float
        Dropout probability in the head, in [0, 1).
    hidden : int
        Units of the hidden linear layer.

    Input: float tensor (N, 1, 28, 28). Output: logits (N, 10).
    """

    def __init__(self, width: int = 16, dropout: float = 0.0, hidden: int = 128, num_classes: int = 10):
        super().__init__()
        if width < 1 or hidden < 1:
            raise ValueError(f"width and hidden must be >= 1, got {width}, {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * width * 7 * 7, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def count_flops(model: nn.Module, batch_size: int = 64, train: bool = True,
                image_shape: tuple[int, ...] = (1, 28, 28)) -> float:
    """FLOPs per image of one training step (forward + backward) or one forward pass.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` on a random batch of
    ``batch_size`` images of ``image_shape``: 2 FLOPs per multiply-add of every matrix
    product and convolution that autograd actually runs (so no backward product for the
    first layer's input, which needs no gradient; elementwise ops, pooling and optimizer
    steps are not counted). The model is left unchanged (gradients are cleared).

    Returns
    -------
    float
        FLOPs per image (divide by 1e6 for MFLOP).
    """
    from torch.utils.flop_counter import FlopCounterMode

    param = next(model.parameters())
    x = torch.randn(batch_size, *image_shape, device=param.device)
    was_training = model.training
    model.train(train)
    with FlopCounterMode(display=False) as counter:
        if train:
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return counter.get_total_flops() / batch_size


class SmallMLP(nn.Module):
    """A fully connected baseline: flatten -> [linear(h) ReLU dropout] x 2 -> linear(10).

    ``width`` scales the hidden units: ``h = 16 * width`` (width 8 -> 128 units).
    Input: (N, 1, 28, 28). Output: logits (N, 10).
    """

    def __init__(self, width: int = 8, dropout: float = 0.0, num_classes: int = 10):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        h = 16 * width
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, h), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(h, h), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(h, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_model(arch: str, width: int, dropout: float, hidden: int = 128) -> nn.Module:
    """The network named by ``arch`` ("cnn" -> :class:`SmallCNN`, "mlp" -> :class:`SmallMLP`).

    Raises
    ------
    ValueError
        Unknown ``arch``.
    """
    if arch == "cnn":
        return SmallCNN(width, dropout, hidden)
    if arch == "mlp":
        return SmallMLP(width, dropout)
    raise ValueError(f"unknown arch {arch!r}; expected 'cnn' or 'mlp'")
