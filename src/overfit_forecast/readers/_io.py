"""Low-level input: one text reader, one table sniffer (separator and title lines), one numeric
parser, one format detector that looks at the content, not the file name."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._names import LogFormatError

_SEPARATORS = ",;\t|"
#: Cell texts read as "nothing logged here" (``nan`` text is a logged NaN, not missing).
MISSING = {"", "none", "null", "na", "n/a", "<na>"}
_INF = {"infinity": "inf", "+inf": "inf", "+infinity": "inf", "-infinity": "-inf"}
_TENSOR = re.compile(r"^tensor\(\s*([^,)\s]+)[^)]*\)$")


def read_text(path: Path) -> str:
    """The file's text (UTF-8 or UTF-16 with a BOM, BOM dropped).

    Raises
    ------
    LogFormatError
        Missing, unreadable, not text, or blank.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LogFormatError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise LogFormatError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LogFormatError(f"{path}: not a UTF-8 text file (undecodable byte at offset {exc.start})") from None
    if "\x00" in text:
        raise LogFormatError(f"{path}: binary content (NUL bytes), not a text log")
    if not text.strip():
        raise LogFormatError(f"{path}: file is empty")
    return text


@dataclass
class Table:
    """A text table as strings: ``frame`` (every cell a stripped ``str``), ``sep``, and
    ``header_line`` (1-based line number of the header in the file; data row ``i`` is on line
    ``header_line + 1 + i`` when the file has no blank lines)."""

    frame: pd.DataFrame
    sep: str
    header_line: int

    def line_of(self, row: int) -> int:
        """1-based file line of data row ``row`` (0-based position)."""
        return self.header_line + 1 + int(row)


def sniff(text: str) -> tuple[str, int]:
    """``(separator, number of title lines before the header)`` of a delimited text table.

    The separator is what :class:`csv.Sniffer` finds among ``, ; tab |`` on the first lines,
    falling back to the candidate that splits the lines most consistently. Title lines are
    leading lines (or ``#`` comments) with fewer fields than the table: the header is the first
    line with at least the modal field count of the lines after it.
    """
    lines = text[:65536].splitlines()[:60]
    sample = "\n".join(lines)
    try:
        sep = csv.Sniffer().sniff(sample, delimiters=_SEPARATORS).delimiter
    except csv.Error:
        sep = None
    counts = {s: [_nfields(ln, s) for ln in lines if ln.strip()] for s in _SEPARATORS}
    if sep is None or max(counts[sep], default=1) <= 1:
        def score(s):
            c = counts[s][len(counts[s]) // 3:] or [1]
            mode = max(set(c), key=c.count)
            return (mode > 1, c.count(mode) / len(c), mode)
        sep = max(_SEPARATORS, key=score)
    fields = [_nfields(ln, sep) if ln.strip() else 0 for ln in lines]
    body = [f for f in fields[1:] if f] or [fields[0]]
    mode = max(set(body), key=body.count)
    for i, (ln, f) in enumerate(zip(lines, fields)):
        if f >= mode and not ln.lstrip().startswith("#"):
            return sep, i
    return sep, 0


def _nfields(line: str, sep: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=sep)))
    except (csv.Error, StopIteration):
        return line.count(sep) + 1


def read_table(path: Path, text: str | None = None) -> Table:
    """Read a delimited text table (separator and title lines sniffed) as strings.

    Raises
    ------
    LogFormatError
        Empty, header only, or ragged beyond repair (the message gives the line).
    """
    text = read_text(path) if text is None else text
    sep, skip = sniff(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, skiprows=skip, dtype=str, keep_default_na=False,
                         na_values=[], skipinitialspace=True, skip_blank_lines=True, comment=None)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f" at line {int(m.group(1)) + skip}" if m else ""
        raise LogFormatError(f"{path}: not a well-formed {_sep_name(sep)}-separated table{where} "
                             f"({str(exc).strip()})") from None
    except pd.errors.EmptyDataError:
        raise LogFormatError(f"{path}: file is empty") from None
    df.columns = [str(c).strip().strip('"').strip() for c in df.columns]
    if len(df) == 0:
        raise LogFormatError(f"{path}: header only, no rows (columns: {list(df.columns)})")
    return Table(df, sep, skip + 1)


def _sep_name(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[sep]


def parse_numbers(cells: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse text cells as floats.

    Accepted: numbers, ``nan``/``inf``/``-inf`` (any case, ``Infinity``), ``x%`` (as x/100),
    ``tensor(x, ...)`` (a printed PyTorch scalar). Returns ``(values, empty, junk)``: the
    float array (NaN where missing or junk), the mask of missing cells (see :data:`MISSING`)
    and the mask of cells that are neither numbers nor missing.
    """
    vals = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()
    raw = cells.to_numpy(dtype=object)
    empty = raw == ""
    junk = np.zeros(len(raw), bool)
    for i in np.flatnonzero(np.isnan(vals) & ~empty):  # the slow path only for cells that are not plain numbers
        t = str(raw[i]).strip().lower()
        if t in MISSING:
            empty[i] = True
            continue
        m = _TENSOR.match(t)
        t = _INF.get(m.group(1) if m else t, m.group(1) if m else t)
        scale = 1.0
        if t.endswith("%"):
            t, scale = t[:-1], 0.01
        try:
            vals[i] = float(t) * scale
        except ValueError:
            junk[i] = True
    return vals, empty, junk


def detect_format(path: str | Path) -> str:
    """A log's format, found from its content (and folder layout), never from its file name.

    Folders: ``trainer_state.json`` or ``checkpoint-*/`` (Hugging Face), ``meta.yaml`` +
    ``metrics/`` (MLflow run), TensorBoard event files anywhere below, ``metrics.csv``
    (Lightning). Files: TensorBoard event files (TFRecord framing); JSON with a
    ``log_history`` list (``hf_trainer``), other JSON objects/lists (``keras_history``: dict of
    per-epoch lists or list of per-epoch records); delimited text with columns ``epoch`` and
    ``step`` (``lightning``), our log columns (``overfit_forecast``), first column ``epoch``
    (``keras_csv``), anything else (``csv``).

    Raises
    ------
    LogFormatError
        Path missing, unreadable, or a folder holding none of the above.
    """
    p = Path(path)
    if not p.exists():
        raise LogFormatError(f"{p}: no such file or folder")
    if p.is_dir():
        return _detect_folder(p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise LogFormatError(f"{p}: cannot read ({exc.strerror})") from None
    if "tfevents" in p.name or _is_tfrecord(head):
        return "tensorboard"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        try:
            obj = json.loads(read_text(p))
        except json.JSONDecodeError:
            return "hf_trainer" if b'"log_history"' in head else "keras_history"
        return "hf_trainer" if isinstance(obj, dict) and "log_history" in obj else "keras_history"
    text = read_text(p)[:65536]
    sep, skip = sniff(text)
    lines = text.splitlines()
    header = lines[skip] if skip < len(lines) else ""
    cols = [c.strip().strip('"') for c in next(csv.reader([header], delimiter=sep), [])]
    if {"epoch", "train_loss", "val_loss", "train_acc", "val_acc", "gap"} <= set(cols):
        return "overfit_forecast"
    if "epoch" in cols and "step" in cols:
        return "lightning"
    if cols and cols[0] == "epoch":  # CSVLogger writes exactly this, 0-based; "Epoch" tables are generic
        return "keras_csv"
    return "csv"


def _is_tfrecord(head: bytes) -> bool:
    """TFRecord framing: 8-byte little-endian length + 4-byte CRC, then a serialized Event
    (the first event of a TensorBoard file is the ``brain.Event:N`` file version)."""
    return len(head) > 12 and b"brain.Event" in head[:80]


def _detect_folder(p: Path) -> str:
    if (p / "trainer_state.json").exists() or any(p.glob("checkpoint-*/trainer_state.json")):
        return "hf_trainer"
    if (p / "meta.yaml").exists() and (p / "metrics").is_dir():
        return "mlflow"
    if any(p.rglob("*tfevents*")):
        return "tensorboard"
    if (p / "metrics.csv").exists():
        return "lightning"
    raise LogFormatError(f"{p}: folder holds no trainer_state.json, checkpoint-*, MLflow run, "
                         "TensorBoard events or metrics.csv")
