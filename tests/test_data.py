import os
from pathlib import Path

import pytest
import torch

from overfit_forecast.data import (
    DataNotFoundError, add_label_noise, find_data_root, iterate_minibatches, subsample,
)


def test_real_mnist_splits(mnist_splits):
    s = mnist_splits
    assert s.x_train.shape == (59_000, 1, 28, 28) and s.x_train.dtype == torch.float32
    assert s.x_val.shape == (1000, 1, 28, 28) and s.x_test.shape == (10_000, 1, 28, 28)
    assert set(s.y_val.unique().tolist()) == set(range(10))
    # normalized: mean ~0, std ~1 over training pixels
    assert abs(s.x_train[:5000].mean().item()) < 0.05
    assert abs(s.x_train[:5000].std().item() - 1) < 0.05


def test_validation_split_is_fixed_by_seed():
    from overfit_forecast.data import load_splits
    a = load_splits(val_size=500, split_seed=0, download=False)
    b = load_splits(val_size=500, split_seed=0, download=False)
    c = load_splits(val_size=500, split_seed=1, download=False)
    assert torch.equal(a.y_val, b.y_val) and torch.equal(a.x_val, b.x_val)
    assert not torch.equal(a.x_val, c.x_val)


def test_missing_data_error_names_folders(tmp_path, monkeypatch):
    import overfit_forecast.data as d
    monkeypatch.setattr(d, "PROJECT_ROOT", tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OVERFIT_FORECAST_DATA", raising=False)
    with pytest.raises(DataNotFoundError) as e:
        find_data_root(tmp_path / "nowhere", download=False)
    msg = str(e.value)
    assert "nowhere" in msg and "data/MNIST/raw" in msg


def test_explicit_root_comes_first(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f).touch()
    assert find_data_root(tmp_path, download=False) == tmp_path.resolve()


def test_label_noise_changes_exactly_the_fraction():
    y = torch.arange(1000) % 10
    noisy = add_label_noise(y, 0.2, seed=3)
    assert (noisy != y).sum().item() == 200
    assert torch.equal(noisy, add_label_noise(y, 0.2, seed=3))
    assert torch.equal(add_label_noise(y, 0.0, seed=3), y)
    with pytest.raises(ValueError):
        add_label_noise(y, 1.5, seed=0)


def test_subsample_and_batches_cover_every_row():
    x = torch.arange(100).float().view(100, 1)
    y = torch.arange(100)
    xs, ys = subsample(x, y, 30, seed=1)
    assert len(ys) == 30 and len(set(ys.tolist())) == 30
    seen = torch.cat([yb for _, yb in iterate_minibatches(xs, ys, 7, torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == sorted(ys.tolist())


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package():
    from overfit_forecast.data import load_splits
    s = load_splits(dataset="fashion_mnist", val_size=1000, download=False)
    assert s.x_train.shape == (59_000, 1, 28, 28) and s.y_test.shape == (10_000,)
    assert abs(s.x_train[:5000].mean().item()) < 0.05  # its own normalization constants
