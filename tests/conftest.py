"""Shared fixtures: synthetic curves with known answers and a small slice of real MNIST."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_log(train_acc, val_acc, train_loss=None, val_loss=None) -> pd.DataFrame:
    """A per-epoch log (epochs 0..T-1) from given curves; losses default to 1 - acc."""
    train_acc = np.asarray(train_acc, float)
    val_acc = np.asarray(val_acc, float)
    train_loss = 1 - train_acc + 0.01 if train_loss is None else np.asarray(train_loss, float)
    val_loss = 1 - val_acc + 0.01 if val_loss is None else np.asarray(val_loss, float)
    n = len(train_acc)
    return pd.DataFrame(dict(epoch=np.arange(n), train_loss=train_loss, val_loss=val_loss,
                             train_acc=train_acc, val_acc=val_acc, gap=train_acc - val_acc,
                             lr=0.1, seconds=0.1))


@pytest.fixture(scope="session")
def mnist_splits():
    """Real MNIST (from data/ or ../shared/data), validation hold-out of 1000 images."""
    from overfit_forecast.data import load_splits

    return load_splits(val_size=1000, download=False)
