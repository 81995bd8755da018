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


def forward_flops(model: SmallCNN) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass on one 1x28x28 image.

    Counts conv and linear layers only (activations, pooling and biases are negligible).
    A training step costs about 3x this (forward + backward for inputs and weights).
    """
    flops = 0
    size = 28
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            flops += 2 * size * size * m.in_channels * m.out_channels * k
        elif isinstance(m, nn.MaxPool2d):
            size //= 2
    for m in model.head:
        if isinstance(m, nn.Linear):
            flops += 2 * m.in_features * m.out_features
    return flops


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
