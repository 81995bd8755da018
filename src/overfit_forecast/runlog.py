"""The run-log format, and every file write of the project: torch-free, scikit-learn-free.

A run's per-epoch log is a CSV with :data:`LOG_COLUMNS` (epoch 0 = before any update) and
a JSON result record (the :class:`RunConfig` fields plus ``status`` in :data:`STATUSES`,
``epochs_done``, ``runtime_sec``, ``test_acc``, ``message``). This module holds that format
(:func:`read_log`, :func:`write_log`), the atomic writer every output goes through
(:func:`atomic_write_text`, :func:`write_json`), and skops model files
(:func:`save_model`, :func:`load_model`). The log-analysis tools (``diagnose``,
``inspect``) import it without pulling in torch or scikit-learn.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Columns of a run's per-epoch log.
LOG_COLUMNS = ["epoch", "train_loss", "val_loss", "train_acc", "val_acc", "gap", "lr", "seconds"]
#: Extra columns of a run with ``RunConfig.log_test``: the test split measured every epoch.
TEST_COLUMNS = ["test_loss", "test_acc"]
#: Terminal statuses recorded in a run's JSON ("early_stopped": a callback stopped it).
STATUSES = ("completed", "diverged", "failed", "early_stopped")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (flat and frozen, as in nanoGPT).

    Two runs with equal configs produce equal logs (up to the ``seconds`` column) on the
    same machine, device and thread count. ``eval_batch_size`` and ``device`` are left out
    of :attr:`run_id` / :attr:`group_id`: logs written before they existed keep their ids,
    and a run trained on a GPU counts as the same run as on a CPU (its floats differ in the
    last digits, its meaning does not).
    """

    dataset: str = "mnist"  # "mnist" (or "fashion_mnist"): which torchvision dataset
    arch: str = "cnn"  # "cnn" (SmallCNN) or "mlp" (SmallMLP)
    n_train: int = 2_000  # images in the run's training subset, drawn from the 50k train split
    epochs: int = 20  # planned epochs (full passes over the training subset)
    optimizer: str = "sgd"  # "sgd" (with momentum) or "adam"
    lr: float = 0.05  # learning rate, constant over the run
    momentum: float = 0.9  # SGD momentum (ignored by Adam)
    weight_decay: float = 0.0  # L2 penalty coefficient passed to the optimizer
    dropout: float = 0.0  # dropout probability in the classifier head
    batch_size: int = 64  # minibatch size for the updates
    label_noise: float = 0.0  # fraction of training labels reassigned to a wrong class
    width: int = 16  # channels of the first conv layer (second has 2x)
    hidden: int = 128  # units of the hidden linear layer
    seed: int = 0  # seeds init, training subset, label noise, batch order and dropout
    val_size: int = 10_000  # validation images held out of the 60k training images
    split_seed: int = 0  # seed of the validation hold-out (same for the whole study)
    eval_batch_size: int = 256  # batch size of measurement passes (no effect on results; not hashed)
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N" (not hashed)
    channels_last: bool = False  # conv activations in NHWC: faster on CPU, other floats (hashed if True)
    log_test: bool = False  # also measure the test split every epoch (TEST_COLUMNS; hashed if True)

    def __post_init__(self):
        checks = {
            "n_train": self.n_train >= 1,
            "epochs": self.epochs >= 0,
            "optimizer": self.optimizer in ("sgd", "adam"),
            "arch": self.arch in ("cnn", "mlp"),
            "lr": self.lr > 0 and math.isfinite(self.lr),
            "weight_decay": self.weight_decay >= 0,
            "dropout": 0 <= self.dropout < 1,
            "batch_size": self.batch_size >= 1,
            "label_noise": 0 <= self.label_noise <= 1,
            "width": self.width >= 1,
            "device": self.device in ("auto", "cpu", "cuda")
            or (self.device.startswith("cuda:") and self.device[5:].isdigit()),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "invalid RunConfig field(s): "
                + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            )

    def to_dict(self) -> dict:
        """Every field, as a plain dict (what is saved beside the run's log)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Build from a dict, ignoring keys that are not config fields (e.g. status)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def group_id(self) -> str:
        """Hash of every field but ``seed``: runs differing only by seed share it."""
        d = self._identity()
        d.pop("seed")
        return "g" + _short_hash(d)

    def _identity(self) -> dict:
        d = self.to_dict()
        d.pop("eval_batch_size")  # changes speed, not results
        d.pop("device")  # where it ran: same run on another device keeps its id (see training)
        for flag in ("channels_last", "log_test"):  # added later: runs without them keep their ids
            if not d[flag]:
                d.pop(flag)
        return d

    @property
    def run_id(self) -> str:
        """Stable id of the run: ``<dataset>-<hash of the full config>``."""
        return f"{self.dataset}-{_short_hash(self._identity())}"


def _short_hash(d: dict) -> str:
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder, then rename.

    A reader never sees a half-written file, and a crash leaves the old file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def log_columns(rows: list[dict]) -> list[str]:
    """The columns of a log with these rows: :data:`LOG_COLUMNS`, then :data:`TEST_COLUMNS`
    when the rows carry them (a run with ``log_test``)."""
    return LOG_COLUMNS + [c for c in TEST_COLUMNS if rows and c in rows[0]]


def log_text(rows: list[dict]) -> str:
    """A run's per-epoch rows as the CSV text of its log (:func:`log_columns`)."""
    import pandas as pd  # imported here: diagnose and inspect import this module without pandas

    return pd.DataFrame(rows, columns=log_columns(rows)).to_csv(index=False)


def write_log(rows: list[dict], path: str | os.PathLike) -> None:
    """Write a run's per-epoch rows (dicts keyed by :func:`log_columns`) atomically."""
    atomic_write_text(path, log_text(rows))


def read_log(path: str | os.PathLike) -> "pd.DataFrame":
    """Read a run's per-epoch log, checking its columns.

    Returns a DataFrame with at least :data:`LOG_COLUMNS`, one row per epoch.

    Raises
    ------
    ValueError
        Missing columns (the message names the file and the columns).
    """
    import pandas as pd

    df = pd.read_csv(path)
    missing = [c for c in LOG_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def _json_clean(o):
    """NaN/inf -> None and numpy scalars -> Python ones, recursively (JSON has no NaN)."""
    if isinstance(o, dict):
        return {k: _json_clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_clean(v) for v in o]
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if math.isfinite(f) else None
    return o


def write_json(obj, path: str | os.PathLike, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (indented by ``indent``; ``None``: compact, for large derived
    tables), atomically, with NaN/inf written as null."""
    seps = (",", ":") if indent is None else None
    atomic_write_text(path, json.dumps(_json_clean(obj), indent=indent, separators=seps) + "\n")


def _skops_canonical(path: Path) -> tuple | None:
    """A skops file's content with its object ids (``__id__`` values and array member names)
    renumbered by first appearance in ``schema.json`` (skops uses ``id()``, which changes);
    None if unreadable. Two files with equal canonical forms hold the same model."""
    import re
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            schema = z.read("schema.json").decode()
            ids = list(dict.fromkeys(re.findall(r'(?<="__id__": )\d+|\b\d+(?=\.npy\b)', schema)))
            members = tuple(z.read(f"{i}.npy") for i in ids if f"{i}.npy" in z.namelist())
            rest = tuple(sorted((n, z.read(n)) for n in z.namelist()
                                if n != "schema.json" and not re.fullmatch(r"\d{6,}\.npy", n)))
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    number = {i: f"#{k}" for k, i in enumerate(ids)}
    schema = re.sub(r'(?<="__id__": )\d+|\b\d+(?=\.npy\b)', lambda m: number[m.group()], schema)
    return schema, members, rest


def save_model(model, path: str | os.PathLike) -> None:
    """Save a fitted scikit-learn model with skops (not pickle), atomically.

    The file is a deflated zip (forests shrink ~10x). When ``path`` already holds the same
    model (same schema and arrays; skops names members by object id and stamps the time), the old file is kept, so
    re-saving an unchanged model leaves a committed file, and ``git status``, untouched.
    """
    import zipfile

    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    sio.dump(model, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    if path.exists() and _skops_canonical(path) == _skops_canonical(tmp) is not None:
        tmp.unlink()
        return
    os.replace(tmp, path)


#: Module prefixes a saved model may reference when loaded with skops.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "overfit_forecast.", "builtins.", "collections.")


def load_model(path: str | os.PathLike):
    """Load a model saved by :func:`save_model` with skops.

    Only types from scikit-learn, numpy and this package are trusted.

    Raises
    ------
    ValueError
        The file references any other type (it is not loaded).
    """
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    bad = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if bad:
        raise ValueError(f"{path}: refusing to load untrusted types {bad}")
    return sio.load(path, trusted=untrusted)
