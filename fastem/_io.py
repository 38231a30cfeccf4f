"""Read a data matrix from a file for the ``fastem fit`` command.

Every failure is a :class:`DataError` whose message is one line naming the
file and what is wrong with it (the command prints it and exits with 2).
"""
import csv
import os

import numpy as np

SUFFIXES = (".npy", ".csv", ".tsv", ".txt", ".parquet")


class DataError(Exception):
    """The file cannot be read as an (n_samples, n_features) numeric matrix."""


def load_matrix(path):
    """Load a 2-D numeric matrix from ``.npy``, ``.csv``/``.tsv``/``.txt`` or ``.parquet``.

    A CSV may start with one header row. Parquet needs pyarrow.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Numeric (a ``.npy`` keeps its dtype and is memory-mapped).

    Raises
    ------
    DataError
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise DataError(f"cannot read {path}: unsupported file type {suffix or '(none)'!r}; "
                        f"use one of {', '.join(SUFFIXES)}")
    if not os.path.isfile(path):
        raise DataError(f"cannot read {path}: no such file")
    reader = {".npy": _read_npy, ".parquet": _read_parquet}.get(suffix, _read_text)
    try:
        X = reader(path)
    except DataError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as e:
        raise DataError(f"cannot read {path}: {_one_line(e)}") from None
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds {X.dtype} values; expected numbers")
    if X.ndim != 2:
        hint = (" (for one feature save X.reshape(-1, 1))" if X.ndim == 1 else "")
        raise DataError(f"{path}: expected a 2-D array (n_samples, n_features), got "
                        f"shape {X.shape}{hint}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: no data (shape {X.shape})")
    return X


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


def _read_npy(path):
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _read_text(path):
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, newline="") as f:
        first = next(csv.reader(f, delimiter=delimiter), None)
    if first is None:
        raise DataError(f"{path}: the file is empty")
    header = not all(_is_number(v) for v in first)
    try:
        return np.loadtxt(path, delimiter=delimiter, skiprows=int(header), ndmin=2,
                          dtype=np.float64)
    except ValueError:
        raise DataError(_find_bad_cell(path, delimiter, header)) from None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _find_bad_cell(path, delimiter, header):
    """One-line description of the first cell or row that is not numeric."""
    with open(path, newline="") as f:
        rows = csv.reader(f, delimiter=delimiter)
        names = next(rows) if header else None
        width = None
        for line, row in enumerate(rows, start=1 + int(header)):
            if not row:
                continue
            width = width or len(row)
            if len(row) != width:
                return (f"{path}, line {line}: {len(row)} columns where earlier rows "
                        f"have {width}")
            for j, value in enumerate(row):
                if not _is_number(value):
                    column = (f"column {names[j]!r}" if names and j < len(names)
                              else f"column {j + 1}")
                    what = "an empty value" if not value.strip() else repr(value)
                    return (f"{path}, line {line}, {column}: {what} is not a number "
                            f"(only numeric columns can be clustered)")
    return f"{path}: not a numeric CSV file"


def _read_parquet(path):
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pat
    except ImportError:
        raise DataError("reading .parquet needs pyarrow: "
                        "python -m pip install 'fastem[parquet]'") from None
    table = pq.read_table(path)
    for name, column in zip(table.column_names, table.columns):
        t = column.type
        if not (pat.is_integer(t) or pat.is_floating(t) or pat.is_boolean(t)):
            raise DataError(f"{path}: column {name!r} has type {t}; only numeric "
                            f"columns can be clustered")
    if table.num_columns == 0:
        raise DataError(f"{path}: no columns")
    return np.column_stack([c.to_numpy(zero_copy_only=False).astype(np.float64)
                            for c in table.columns])
