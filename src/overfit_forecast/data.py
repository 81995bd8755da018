"""MNIST as in-memory tensors: find the raw files, load once, split, slice batches.

The whole dataset lives in memory as one float tensor per split; batches are slices
of it (no ``DataLoader``, no per-sample PIL transforms), which is several times faster
on a small CPU than the classic ``DataLoader`` + ``ToTensor`` loop (see
``benchmarks/throughput.py``).

Data search order (:func:`find_data_root`): an explicit path, ``data/`` in the
project, ``../shared/data`` beside the project, (Fashion-MNIST only) the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``, gzipped files unpacked
once into ``data/FashionMNIST/raw``), then a download by torchvision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

#: The files ``torchvision.datasets.MNIST`` expects in ``<root>/MNIST/raw``.
RAW_FILES = {
    "mnist": (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ),
}
RAW_FILES["fashion_mnist"] = RAW_FILES["mnist"]

#: torchvision's sub-folder name per dataset.
_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}

#: Per-dataset pixel mean and standard deviation over the 60k training images
#: (the constants of pytorch/examples ``mnist/main.py`` for MNIST).
NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Flat folders of gzipped IDX files installed by system packages, per dataset.
SYSTEM_FOLDERS = {"fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")]}


class DataNotFoundError(FileNotFoundError):
    """Raised when no copy of the dataset is found and it cannot be downloaded."""


def _has_raw(root: Path, dataset: str) -> bool:
    raw = root / _FOLDER[dataset] / "raw"
    return all((raw / f).exists() or (raw / (f + ".gz")).exists() for f in RAW_FILES[dataset])


def candidate_roots(explicit: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for ``<root>/MNIST/raw``, in order.

    1. ``explicit`` (a parameter), else the ``OVERFIT_FORECAST_DATA`` environment variable;
    2. ``data/`` in the project;
    3. ``../shared/data`` beside the project (and beside the current directory).
    """
    roots: list[Path] = []
    if explicit is None:
        explicit = os.environ.get("OVERFIT_FORECAST_DATA") or None
    if explicit is not None:
        roots.append(Path(explicit))
    roots += [
        PROJECT_ROOT / "data",
        PROJECT_ROOT.parent / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
    ]
    seen: list[Path] = []
    for r in roots:
        r = r.resolve()
        if r not in seen:
            seen.append(r)
    return seen


def find_data_root(
    explicit: str | os.PathLike | None = None, dataset: str = "mnist", download: bool = True
) -> Path:
    """Return the first folder holding ``<root>/MNIST/raw`` with the four IDX files.

    Parameters
    ----------
    explicit : path, optional
        Checked first. If given and it does not hold the files, the search still goes on
        (a wrong explicit path is reported in the error if nothing is found).
    dataset : {"mnist", "fashion_mnist"}
    download : bool
        If nothing is found, try ``torchvision``'s download into ``data/``.

    Raises
    ------
    DataNotFoundError
        Nothing found and the download failed or was not allowed; the message lists every
        folder searched and where to put the files.
    """
    if dataset not in _FOLDER:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(_FOLDER)}")
    roots = candidate_roots(explicit)
    for root in roots:
        if _has_raw(root, dataset):
            return _unpacked(root, dataset)
    for flat in SYSTEM_FOLDERS.get(dataset, []):
        if all((flat / (f + ".gz")).exists() for f in RAW_FILES[dataset]):
            return _unpacked(flat, dataset, flat=True)
    if download:
        target = PROJECT_ROOT / "data"
        try:
            _tv_dataset(dataset)(root=str(target), train=True, download=True)
            _tv_dataset(dataset)(root=str(target), train=False, download=True)
            return target
        except Exception as exc:  # network errors come in many types
            reason = f"download failed: {exc}"
    else:
        reason = "download not allowed"
    searched = "\n  ".join(str(r / _FOLDER[dataset] / "raw") for r in roots)
    raise DataNotFoundError(
        f"{_FOLDER[dataset]} raw files not found ({reason}). Searched:\n  {searched}\n"
        f"Put the four IDX files {list(RAW_FILES[dataset])} (optionally .gz) in "
        f"data/{_FOLDER[dataset]}/raw/ of the project, or pass the folder holding "
        f"{_FOLDER[dataset]}/raw as data_root / set OVERFIT_FORECAST_DATA."
    )


def _unpacked(root: Path, dataset: str, flat: bool = False) -> Path:
    """A root whose ``<Folder>/raw`` holds the *uncompressed* files torchvision reads.

    If only ``.gz`` copies exist (or ``flat``: a system folder of ``.gz`` files), they are
    decompressed once into the project's ``data/<Folder>/raw`` (the originals stay
    untouched) and the project's ``data/`` is returned.
    """
    import gzip
    import shutil

    src = root if flat else root / _FOLDER[dataset] / "raw"
    if not flat and all((src / f).exists() for f in RAW_FILES[dataset]):
        return root
    target_root = PROJECT_ROOT / "data"
    dst = target_root / _FOLDER[dataset] / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for f in RAW_FILES[dataset]:
        if not (dst / f).exists():
            tmp = dst / (f + ".tmp")
            with gzip.open(src / (f + ".gz"), "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            os.replace(tmp, dst / f)
    return target_root


def _tv_dataset(dataset: str):
    import torchvision

    return {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}[
        dataset
    ]


@dataclass(frozen=True)
class Splits:
    """The three splits as tensors.

    ``x_*``: float32, shape (N, 1, 28, 28), normalized with the dataset's mean/std.
    ``y_*``: int64, shape (N,), class indices 0..9.
    ``train`` is the 60k training set minus the validation hold-out; ``test`` is the
    official 10k test set, untouched by model selection.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: str | torch.device) -> "Splits":
        """The same splits on ``device`` (``self`` if they are there already)."""
        device = torch.device(device)
        if self.x_train.device == device:
            return self
        return Splits(*(t.to(device) for t in (self.x_train, self.y_train, self.x_val, self.y_val,
                                                self.x_test, self.y_test)))


def _to_float(images: torch.Tensor, dataset: str) -> torch.Tensor:
    mean, std = NORMALIZATION[dataset]
    return ((images.float() / 255.0 - mean) / std).unsqueeze(1).contiguous()


def load_splits(
    data_root: str | os.PathLike | None = None,
    dataset: str = "mnist",
    val_size: int = 10_000,
    split_seed: int = 0,
    download: bool = True,
) -> Splits:
    """Load the dataset into memory and hold out a fixed, seeded validation split.

    Parameters
    ----------
    data_root : path, optional
        Folder holding ``MNIST/raw`` (see :func:`find_data_root` for the search order).
    val_size : int
        Images held out of the 60k training images for validation (default 10 000).
    split_seed : int
        Seed of the permutation that picks the hold-out; fixed across the whole study so
        every run sees the same validation set.

    Returns
    -------
    Splits
        Train (60k - ``val_size``), validation (``val_size``) and test (10k) tensors.

    Raises
    ------
    DataNotFoundError
        See :func:`find_data_root`.
    ValueError
        ``val_size`` not in [1, 59 999].
    """
    root = find_data_root(data_root, dataset, download=download)
    cls = _tv_dataset(dataset)
    train = cls(root=str(root), train=True, download=False)
    test = cls(root=str(root), train=False, download=False)
    n = len(train.targets)
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in [1, {n - 1}], got {val_size}")
    g = torch.Generator().manual_seed(split_seed)
    perm = torch.randperm(n, generator=g)
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    x_all = _to_float(train.data, dataset)
    y_all = train.targets.long()
    return Splits(
        x_train=x_all[train_idx].contiguous(),
        y_train=y_all[train_idx].contiguous(),
        x_val=x_all[val_idx].contiguous(),
        y_val=y_all[val_idx].contiguous(),
        x_test=_to_float(test.data, dataset),
        y_test=test.targets.long(),
    )


def subsample(
    x: torch.Tensor, y: torch.Tensor, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``n`` rows of ``(x, y)`` (all rows if ``n >= len(y)``).

    The indices are drawn on the CPU, so the subset is the same on every device.
    """
    if n <= 0:
        raise ValueError(f"training-set size must be positive, got {n}")
    if n >= len(y):
        return x, y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(y), generator=g)[:n].to(x.device)
    return x[idx].contiguous(), y[idx].contiguous()


def add_label_noise(
    y: torch.Tensor, fraction: float, seed: int, num_classes: int = 10
) -> torch.Tensor:
    """Return a copy of ``y`` with ``round(fraction * len(y))`` labels reassigned.

    Each chosen label is replaced by a uniformly drawn *different* class (symmetric
    label noise, as in Zhang et al. 2017, "Understanding deep learning requires
    rethinking generalization"), so exactly that many labels are wrong.

    Raises
    ------
    ValueError
        ``fraction`` outside [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"label-noise fraction must be in [0, 1], got {fraction}")
    y = y.clone()
    k = int(round(fraction * len(y)))
    if k == 0:
        return y
    g = torch.Generator().manual_seed(seed + 7_919)  # CPU draws: same noise on every device
    idx = torch.randperm(len(y), generator=g)[:k].to(y.device)
    shift = torch.randint(1, num_classes, (k,), generator=g).to(y.device)
    y[idx] = (y[idx] + shift) % num_classes
    return y


def iterate_minibatches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
):
    """Yield ``(xb, yb)`` slices of a shuffled order (or in order if no generator).

    Every row is visited once per pass; the last batch may be smaller. ``generator`` is a
    CPU generator: the order is drawn on the CPU and moved to the data's device, so the
    batches are the same on every device.
    """
    n = len(y)
    order = torch.randperm(n, generator=generator).to(x.device) if generator is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]
