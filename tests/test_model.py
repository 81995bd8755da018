"""The default CNN's faster pooling changes no bit of a forward pass, a gradient or a run."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from throughput import nchw_pooling_cnn  # noqa: E402  (the benchmark's "before" layout)


def _with_ties(shape, seed):
    """Random activations with the ties pooling meets in practice: zero plateaus (after a
    ReLU, or a blank MNIST border), positive plateaus (a conv's bias over a blank region)
    and exact ties between two cells of one window."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    x[:, :, : shape[2] // 3] = 0.0
    x[:, :, -3:, -3:] = 0.25
    h, w = shape[2], shape[3]
    for i in range(0, h - 1, 4):
        for j in range(0, w - 1, 4):
            x[..., i + 1, j] = x[..., i + 1, j + 1]  # a tie within a window's row
            if j + 3 < w:
                x[..., i, j + 2] = x[..., i + 1, j + 3]  # a tie across its rows
    return x


@pytest.mark.parametrize("shape", [(8, 16, 28, 28), (8, 32, 14, 14), (2, 3, 7, 9), (1, 1, 2, 2)])
@pytest.mark.parametrize("relu_first", [True, False])
def test_maxpool2x2_forward_and_backward_match_nn_maxpool2d_bit_for_bit(shape, relu_first):
    from overfit_forecast.model import MaxPool2x2

    x = _with_ties(shape, seed=sum(shape))
    if relu_first:
        x = torch.relu(x)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = nn.MaxPool2d(2)(a), MaxPool2x2()(b)
    assert yb.shape == ya.shape and yb.is_contiguous()
    assert torch.equal(ya, yb)
    grad = torch.randn(ya.shape, generator=torch.Generator().manual_seed(1))
    ya.backward(grad)
    yb.backward(grad)
    assert b.grad.is_contiguous()
    # bit patterns, so that -0.0 where PyTorch writes +0.0 would fail
    assert torch.equal(a.grad.view(torch.int32), b.grad.view(torch.int32))
    assert int((b.grad != 0).sum()) == ya.numel() - int((grad == 0).sum())  # one cell per window
    with torch.no_grad():
        assert torch.equal(MaxPool2x2()(x), ya)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(MaxPool2x2()(cl), ya)


def test_small_cnn_trains_bit_identically_to_conv_relu_nn_maxpool2d(mnist_splits):
    from overfit_forecast.model import MaxPool2x2, SmallCNN
    from overfit_forecast.training import evaluate, train_one_epoch

    x, y = mnist_splits.x_train[:768], mnist_splits.y_train[:768]
    runs = {}
    for name in ("study", "nchw"):
        torch.manual_seed(3)
        model = SmallCNN(8, dropout=0.3) if name == "study" else nchw_pooling_cnn(8, dropout=0.3)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        gen = torch.Generator().manual_seed(3)
        torch.manual_seed(4)  # the dropout masks
        for _ in range(2):
            assert train_one_epoch(model, opt, x, y, 32, gen)
        runs[name] = (model, evaluate(model, mnist_splits.x_val, mnist_splits.y_val))
    study, nchw = runs["study"][0], runs["nchw"][0]
    assert sum(isinstance(m, MaxPool2x2) for m in study.modules()) == 2
    assert study.state_dict().keys() == nchw.state_dict().keys()
    for (k, p), q in zip(study.state_dict().items(), nchw.state_dict().values()):
        assert torch.equal(p.view(torch.int32), q.view(torch.int32)), k
    assert runs["study"][1] == runs["nchw"][1]
    assert runs["study"][1][1] > 0.5  # it learned: the comparison is not of two untrained nets
