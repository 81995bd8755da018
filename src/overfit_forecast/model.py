"""The small CNN trained in every run of the sweep."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


_POOL = dict(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=False)


def _pool_channels_last(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """2x2 max-pool of an NCHW tensor by PyTorch's channels-last kernel: NCHW output and
    indices (each output's flat ``h * W + w`` position in its input plane, as the NCHW
    kernel numbers them)."""
    out, indices = torch.ops.aten.max_pool2d_with_indices(
        x.contiguous(memory_format=torch.channels_last), **_POOL)
    return out.contiguous(), indices


class _ChannelsLastMaxPool2x2(torch.autograd.Function):
    """Forward by PyTorch's channels-last 2x2 max-pool kernel, backward by its NCHW one."""

    @staticmethod
    def forward(ctx, x):
        out, indices = _pool_channels_last(x)
        ctx.save_for_backward(x, indices.contiguous())
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, indices = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad_out.contiguous(), x, **_POOL, indices=indices)


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` that, on CPU, pools forward in channels-last layout: same bits, faster.

    PyTorch's CPU ``max_pool2d_with_indices`` forward for NCHW tensors loops over one output
    at a time; its channels-last kernel is vectorised over channels (ATen
    ``native/cpu/MaxPoolKernel.cpp``). This module copies the NCHW input to channels-last,
    runs PyTorch's own forward kernel there and copies the output and the indices back to
    NCHW, so the rest of the network (convolutions included) stays NCHW. The backward is
    PyTorch's NCHW ``max_pool2d_with_indices_backward``, the kernel ``nn.MaxPool2d`` runs
    itself, fed those indices (fast: one scatter per output, no layout copy). Both forward
    kernels take a window's first maximum in row-major order (``val > maxval``) and number
    it ``h * W + w`` in either layout, so outputs and gradients are bit-identical to
    ``nn.MaxPool2d(2)`` (``tests/test_model.py`` checks ties and whole epochs); on a
    one-core AVX-512 host forward + backward take about 1.5 instead of 4.8 ms for a
    64x16x28x28 batch (``benchmarks/throughput.py`` times whole epochs). Without autograd
    (evaluation) only the forward kernel runs. Other devices, non-4-D or channels-last
    inputs use ``F.max_pool2d``. Input (N, C, H, W) -> (N, C, H // 2, W // 2).
    """

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or not x.is_contiguous() \
                or x.is_contiguous(memory_format=torch.channels_last):
            return F.max_pool2d(x, 2)
        if not (torch.is_grad_enabled() and x.requires_grad):
            return _pool_channels_last(x)[0]
        return _ChannelsLastMaxPool2x2.apply(x)


class SmallCNN(nn.Module):
    """Two conv blocks and a two-layer classifier head, for 1x28x28 inputs.

    Layout (``w`` = ``width``)::

        conv3x3(1->w) maxpool2 ReLU -> conv3x3(w->2w) maxpool2 ReLU -> flatten (2w*7*7)
        -> dropout(p) -> linear(2w*7*7 -> hidden) ReLU -> dropout(p) -> linear(hidden -> 10)

    The same shape as pytorch/examples ``mnist/main.py`` scaled down, with padding so the
    spatial size halves exactly (28 -> 14 -> 7). Max pooling commutes with ReLU (both are
    monotone), so pooling first gives the same outputs and, since a window whose maximum is
    not positive passes no gradient either way, the same gradients bit for bit, with the
    ReLU on a quarter of the values; pooling is :class:`MaxPool2x2`. Logs are therefore
    the same as with ``conv ReLU nn.MaxPool2d(2)`` (checked against committed study runs).

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
            MaxPool2x2(),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            MaxPool2x2(),
            nn.ReLU(),
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
