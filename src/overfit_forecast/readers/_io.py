"""Low-level input: one text reader, one table sniffer (separator and title lines), one numeric
parser, one format detector that looks at the content, not the file name."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._names import LogFormatError

_SEPARATORS = ",;\t|"
#: Cell texts read as "nothing logged here" (``nan`` text is a logged NaN, not missing).
MISSING = {"", "none", "null", "na", "n/a", "<na>"}
_INF = {"infinity": "inf", "+inf": "inf", "+infinity": "inf", "-infinity": "-inf"}
_TENSOR = re.compile(r"^tensor\(\s*([^,)\s]+)[^)]*\)$")
_LINE_END = re.compile(r"\r\n|\r|\n")


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
    """A text table as strings: ``columns`` (header names, stripped, duplicates renamed
    ``a.1``, blanks ``Unnamed: i`` as pandas names them), ``cells`` (one list of ``str`` per
    column, a short row padded with ``""``), ``sep``, and ``header_line`` (1-based line number
    of the header in the file; data row ``i`` is on line ``header_line + 1 + i`` when the file
    has no blank lines). ``frame`` is the same table as a pandas DataFrame of ``str``
    (pandas imported only then)."""

    columns: list
    cells: list
    sep: str
    header_line: int

    def __len__(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    def column(self, name: str) -> list:
        """The cells of column ``name`` (``KeyError`` if absent)."""
        return self.cells[self.columns.index(name)]

    @property
    def frame(self):
        """The table as a ``pandas.DataFrame`` of strings, columns in file order."""
        import pandas as pd

        df = pd.DataFrame({i: pd.Series(c, dtype=object) for i, c in enumerate(self.cells)})
        df.columns = list(self.columns)
        return df

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
    """Read a delimited text table (separator and title lines sniffed by :func:`sniff`) as
    strings, with the standard library's :mod:`csv` reader: quotes as in RFC 4180, spaces after
    a separator skipped, blank lines skipped, every cell kept as text.

    Empty fields after a row's last column (a separator at the end of the line) are ignored.

    Raises
    ------
    LogFormatError
        Empty, header only, or a row with more (non-empty) fields than the header (the
        message gives the line).
    """
    text = read_text(path) if text is None else text
    sep, skip = sniff(text)
    pos = 0
    for _ in range(skip):
        m = _LINE_END.search(text, pos)
        pos = m.end() if m else len(text)
    body = text[pos:]
    try:
        recs = list(csv.reader(io.StringIO(body, newline=""), delimiter=sep, skipinitialspace=True, strict=False))
    except csv.Error:
        recs = []
    lens = list(map(len, recs))
    if not (lens and lens[0] > 1 and lens.count(lens[0]) == len(lens)):  # blank lines, ragged rows, errors
        recs = _records_checked(path, body, sep, skip)
    if not recs:
        raise LogFormatError(f"{path}: file is empty")
    header, rows = recs[0], recs[1:]
    columns = _column_names(header)
    if not rows:
        raise LogFormatError(f"{path}: header only, no rows (columns: {columns})")
    return Table(columns, [list(c) for c in zip(*rows)], sep, skip + 1)


def _records_checked(path: Path, body: str, sep: str, skip: int) -> list[list[str]]:
    """The non-blank records of a table body, each padded or cut to the header's length (the
    slow path of :func:`read_table`, for ragged tables).

    Raises
    ------
    LogFormatError
        A row with more non-empty fields than the header, or a quoting error (file line named).
    """
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=sep, skipinitialspace=True, strict=False)
    header, rows = None, []
    try:
        for rec in reader:
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue  # a blank line
            if header is None:
                header = rec
                rows.append(rec)
                continue
            n = len(header)
            if len(rec) > n and not any(x.strip() for x in rec[n:]):
                rec = rec[:n]  # separators at the end of the line: no extra field
            if len(rec) > n:
                raise LogFormatError(f"{path}: not a well-formed {_sep_name(sep)}-separated table at line "
                                     f"{reader.line_num + skip} (expected {n} fields, saw {len(rec)})")
            rows.append(rec + [""] * (n - len(rec)))
    except csv.Error as exc:
        raise LogFormatError(f"{path}: not a well-formed {_sep_name(sep)}-separated table at line "
                             f"{reader.line_num + skip} ({exc})") from None
    return rows


def _column_names(header: list[str]) -> list[str]:
    """Header cells as pandas names them (blank -> ``Unnamed: i``, a repeated name -> ``a.1``),
    then stripped of spaces and quotes."""
    names, seen = [], {}
    for i, h in enumerate(header):
        h = h if h.strip() else f"Unnamed: {i}"
        base, k = h, seen.get(h, 0)
        while h in seen:
            k += 1
            h = f"{base}.{k}"
        seen[base] = k
        seen.setdefault(h, 0)
        names.append(h)
    return [str(c).strip().strip('"').strip() for c in names]


def _sep_name(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[sep]


def parse_numbers(cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse text cells (a sequence of ``str``; a pandas Series works too) as floats.

    Accepted: numbers, ``nan``/``inf``/``-inf`` (any case, ``Infinity``), ``x%`` (as x/100),
    ``tensor(x, ...)`` (a printed PyTorch scalar). Returns ``(values, empty, junk)``: the
    float array (NaN where missing or junk), the mask of missing cells (see :data:`MISSING`)
    and the mask of cells that are neither numbers nor missing.
    """
    raw = cells.tolist() if hasattr(cells, "tolist") else list(cells)
    n = len(raw)
    vals = np.full(n, np.nan)
    junk = np.zeros(n, bool)
    if n and set(map(type, raw)) == {str}:  # the fast path: numbers and blanks only
        empty = np.array(raw, dtype=str) == ""
        filled = ~empty
        try:
            vals[filled] = np.fromiter(map(float, itertools.compress(raw, filled)), float, int(filled.sum()))
            return vals, empty, junk
        except ValueError:
            pass
    empty = np.zeros(n, bool)
    for i, x in enumerate(raw):
        if isinstance(x, str):
            if x == "":
                empty[i] = True
                continue
            try:
                vals[i] = float(x)
                continue
            except ValueError:
                pass
            v = _parse_text(x)
            if v is None:
                empty[i] = True
            elif v is False:
                junk[i] = True
            else:
                vals[i] = v
        elif x is None:
            empty[i] = True
        elif isinstance(x, (int, float, np.number)):
            vals[i] = float(x)
        else:
            v = _parse_text(str(x))
            if v is False:
                junk[i] = True
            elif v is not None:
                vals[i] = v
    return vals, empty, junk


def _parse_text(cell: str):
    """The slow path of :func:`parse_numbers`: ``None`` when missing, ``False`` when junk,
    else the float."""
    t = cell.strip().lower()
    if t in MISSING:
        return None
    m = _TENSOR.match(t)
    t = _INF.get(m.group(1) if m else t, m.group(1) if m else t)
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    try:
        return float(t) * scale
    except ValueError:
        return False


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
