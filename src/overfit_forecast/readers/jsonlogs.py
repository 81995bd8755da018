"""Run-log readers for JSON logs -> :class:`~overfit_forecast.readers.Curves`: Hugging Face
``trainer_state.json`` and JSON histories (Keras ``history.history`` dumps, dicts of lists
written by custom loops, lists of per-epoch records)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ._io import read_text
from ._names import Curves, LogFormatError, _floats, finish, split_metric

_HF_META = ("best_metric", "best_model_checkpoint", "best_global_step", "global_step", "epoch", "max_steps",
            "num_train_epochs", "train_batch_size", "logging_steps", "eval_steps", "save_steps",
            "gradient_accumulation_steps", "metric_for_best_model", "greater_is_better")


def load_json(path: Path):
    """Parsed JSON; :class:`LogFormatError` naming line and column when invalid or truncated."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LogFormatError(f"{path}: invalid or truncated JSON at line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg}") from None
    except RecursionError:
        raise LogFormatError(f"{path}: JSON nested too deeply") from None


def _find_trainer_state(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / "trainer_state.json").exists():
        return path / "trainer_state.json"
    ckpts = []
    for d in path.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", d.name)
        if m and (d / "trainer_state.json").exists():
            ckpts.append((int(m.group(1)), d))
    if not ckpts:
        raise LogFormatError(f"{path}: no trainer_state.json here or in checkpoint-* subfolders")
    return max(ckpts)[1] / "trainer_state.json"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_hf_trainer(path: str | os.PathLike) -> Curves:
    """Hugging Face ``trainer_state.json`` (a file under any name, a checkpoint folder, or the
    output folder holding ``checkpoint-*``: the newest is read).

    ``log_history`` entries with ``loss`` are train points, ``eval_*`` keys validation points,
    ``test_*`` keys held-out points, ``learning_rate`` the training series ``lr``; the final
    summary entry (``train_runtime``) is skipped.
    HF rounds ``epoch`` to 2 decimals; when ``step / epoch`` is one constant (steps per
    epoch) within that rounding, epochs are recomputed from steps (``meta["epoch_from_step"]``).
    ``meta`` keeps ``best_metric``, ``best_model_checkpoint``, ``global_step``,
    ``num_train_epochs``, ``train_batch_size``, ``logging_steps``, ``eval_steps`` ... and
    ``step_went_backwards`` when a resumed run appended older steps.

    Raises
    ------
    LogFormatError
        Invalid JSON (line, column), no ``log_history`` list, an entry that is not an object, or
        a metric that is not a number (``log_history[i].key``).
    """
    f = _find_trainer_state(Path(path))
    state = load_json(f)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogFormatError(f"{f}: not a trainer_state.json (no 'log_history' list)")
    hist = [e for e in state["log_history"] if not (isinstance(e, dict) and "train_runtime" in e)]
    rows = _record_rows(hist, f, "log_history", epoch_default=False)
    # the schedule: ``learning_rate`` of the training-log entries, kept as the series ("train", "lr")
    rows += [(e.get("step"), e.get("epoch"), "train", "lr", e["learning_rate"]) for e in hist
             if _is_number(e.get("learning_rate"))]
    cols = dict(zip(("step", "epoch", "split", "metric", "value"), map(list, zip(*rows)))) if rows else []
    meta = {k: state[k] for k in _HF_META if k in state}
    if cols:
        cols["step"], cols["epoch"] = _floats(cols["step"]), _floats(cols["epoch"])
        cols["epoch"] = _hf_exact_epochs(cols["step"], cols["epoch"], meta)
    return finish(cols, "hf_trainer", str(f), meta)


def _hf_exact_epochs(st: np.ndarray, ep: np.ndarray, meta: dict) -> np.ndarray:
    """Epochs recomputed as ``step / steps_per_epoch`` when the logged (2-decimal) epochs agree
    with one steps-per-epoch constant; the logged epochs otherwise (float arrays in and out)."""
    ok = np.isfinite(st) & np.isfinite(ep) & (ep > 0)
    if ok.sum() < 2:
        return ep
    i = np.argmax(np.where(ok, ep, -1))
    spe = st[i] / ep[i]
    exact = st / spe
    if spe > 0 and np.all(np.abs(exact[ok] - ep[ok]) <= 0.006 + 0.005 * ep[ok] / max(ep[i], 1)):
        meta["epoch_from_step"] = True
        meta["steps_per_epoch"] = float(spe)
        return np.where(np.isfinite(st), exact, ep)
    return ep


def read_keras_history(path: str | os.PathLike) -> Curves:
    """A JSON history: Keras ``model.fit(...).history`` dumps (``{"loss": [...], "val_loss":
    [...]}``, optionally under ``"history"``), dicts of lists written by custom loops
    (lists of per-epoch dicts such as ``"train_metrics": [{"mae": ...}]`` are flattened to
    ``train_mae``), or a list of per-epoch/per-step records (``[{"epoch": 1, "loss": ...}]``).

    Value i of a list is epoch i+1 unless an ``epoch``/``epochs`` list of the same length
    gives the epochs. Scalar keys beside the lists (test accuracy, timestamps, config, phase
    markers) go to ``meta["scalar_extras"]``.

    Raises
    ------
    LogFormatError
        Invalid JSON (line, column); neither an object nor a list of objects; a non-number in
        a numeric list (``key[i]``) or record (``[i].key``).
    """
    path = Path(path)
    h = load_json(path)
    if isinstance(h, list):
        return _records(h, path)
    if not isinstance(h, dict):
        raise LogFormatError(f"{path}: expected a JSON object of per-epoch lists or a list of per-epoch "
                             f"records, got {type(h).__name__}")
    if isinstance(h.get("history"), dict):
        extras = {k: v for k, v in h.items() if k != "history"}
        h = {**h["history"], **{k: v for k, v in extras.items() if not isinstance(v, list)}}
    series, extras = _flatten_history(h, path)
    x = next((np.asarray(series.pop(k), float) for k in ("epoch", "epochs") if k in series), None)
    cols = {"step": [], "epoch": [], "split": [], "metric": [], "value": []}
    for k, values in series.items():
        sm = split_metric(k)
        if sm is None:
            continue
        ep = x if x is not None and len(x) == len(values) else np.arange(1, len(values) + 1, dtype=float)
        n = len(values)
        for name, part in (("step", np.full(n, np.nan)), ("epoch", ep), ("split", [sm[0]] * n),
                           ("metric", [sm[1]] * n), ("value", values)):
            cols[name].append(part)
    t = {k: np.concatenate(v) if v else [] for k, v in cols.items()}
    meta = {"scalar_extras": extras} if extras else {}
    return finish(t, "keras_history", str(path), meta)


def _flatten_history(h: dict, path: Path) -> tuple[dict, dict]:
    """``({name: float array}, {scalar key: value})`` of a dict-of-lists history."""
    series, extras = {}, {}
    for k, v in h.items():
        if not isinstance(v, list):
            extras[k] = v
        elif v and all(isinstance(e, dict) for e in v):
            prefix = re.sub(r"_?metrics?$", "", str(k))
            subkeys = list(dict.fromkeys(sk for e in v for sk in e))
            for sk in subkeys:
                series[f"{prefix}_{sk}" if prefix else sk] = _numbers([e.get(sk) for e in v], path, k, sk)
        elif any(_is_number(e) for e in v) or not v:
            series[k] = _numbers(v, path, k)
        else:
            extras[k] = v  # a list of labels/phases: not a curve
    return series, extras


def _numbers(values: list, path: Path, key: str, sub: str | None = None) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
        elif _is_number(v):
            out[i] = v
        else:
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                where = f"{key}[{i}]" + (f".{sub}" if sub else "")
                raise LogFormatError(f"{path}: {where} is not a number ({v!r})") from None
    return out


def _record_rows(recs: list, path: Path, name: str, epoch_default: bool) -> list[tuple]:
    """Tidy tuples of a list of metric records (``name[i].key`` in messages). Keys holding a
    number in some record are metrics; a non-number there is an error. A record's
    ``phase``/``split``/``mode`` value (``"train"``, ``"val"``) is the split of its
    unprefixed metrics; without ``epoch`` and ``step``, record i is epoch i+1."""
    numeric_keys = {k for r in recs if isinstance(r, dict) for k, v in r.items() if _is_number(v)}
    rows = []
    for i, r in enumerate(recs):
        if not isinstance(r, dict):
            raise LogFormatError(f"{path}: {name}[{i}] is not an object ({type(r).__name__}); expected "
                                 "records like {\"epoch\": 1, \"loss\": 0.5}")
        phase = next((r[k] for k in ("phase", "split", "mode") if isinstance(r.get(k), str)), "train")
        default = _SPLIT_WORDS.get(phase.strip().lower(), "train")
        step = r.get("step")
        epoch = r.get("epoch", i + 1 if epoch_default and "step" not in r else None)
        for k, v in r.items():
            if k in ("step", "epoch") or k not in numeric_keys:
                continue
            sm = split_metric(k, default)
            if sm is None:
                continue
            if v is not None and not _is_number(v):
                if isinstance(v, (list, dict)):
                    continue
                raise LogFormatError(f"{path}: {name}[{i}].{k} is not a number ({v!r})")
            rows.append((step, epoch, sm[0], sm[1], np.nan if v is None else v))
    return rows


_SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "eval": "val", "test": "test"}


def _records(recs: list, path: Path) -> Curves:
    """A list of per-epoch or per-step records (``generic_records_json``; also a bare HF
    ``log_history`` list)."""
    rows = _record_rows(recs, path, "", epoch_default=True)
    return finish(rows, "keras_history", str(path), {"layout": "records"})
