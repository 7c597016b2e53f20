"""Tidy tables: the numbers behind every table and figure of a report, saved so a reader can redo them.

A table is a mapping of column name to an equal-length column (a list or a 1-D array) of one of
four kinds: ``int``, ``float``, ``bool`` or ``str``. :func:`write_table` saves it under
``RESULTS_DIR/tables/`` as ``NAME.csv`` (always; floats written with ``repr``, so they read back
bit for bit) and ``NAME.parquet`` (when :mod:`pyarrow` is installed), and records its columns,
their kinds and a description in ``tables/index.json``. :func:`load_tables` reads a results folder
back, as pandas DataFrames when pandas is installed::

    from pgd_bench.tables import load_tables
    tables = load_tables("pgd-bench-results")        # {"trials": DataFrame, "cells": DataFrame, ...}
    cells = tables["cells"]
    cells[cells.stage == "success rates"][["cell", "success_rate", "wilson_low", "wilson_high"]]

``tables/index.json`` lists every table; ``figures.json`` lists, per figure, the tables and the
settings it is drawn from (``pgd-bench plot RESULTS_DIR`` redraws them).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

TABLES_DIR = "tables"
INDEX = "index.json"
TABLE_FORMATS = ("csv", "parquet")  # the files a table is written as (parquet with pyarrow)


def _kind(values) -> str:
    """The kind of a column: from the array's dtype, or from its Python values."""
    if (
        not isinstance(values, np.ndarray)
        and values
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in values)
    ):
        return "int"  # before NumPy sees them: it makes [0, 2^64 - 1] a float array, and rounds
    array = np.asarray(values)
    if array.dtype.kind == "b":
        return "bool"
    if array.dtype.kind in "iu":
        return "int"
    if array.dtype.kind == "f":
        return "float"
    items = [v for v in values if v is not None and v != ""]
    if items and all(isinstance(v, bool | np.bool_) for v in items):
        return "bool"
    if items and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
        if len(items) == len(values):
            return "int"
        # an empty int reads back as NaN in a float column: exact up to 2^53; past it (seeds
        # reach 2^64 - 1) a float would round, so such a column is kept as text
        return "float" if all(abs(int(v)) <= 2**53 for v in items) else "str"
    if items and all(isinstance(v, int | float | np.integer | np.floating) for v in items):
        return "float"
    return "str"


def _text(value, kind: str) -> str:
    if value is None or (isinstance(value, str) and value == ""):  # a missing value of any kind
        return ""
    if kind == "float":
        return repr(float(value))  # round-trips every float; "nan", "inf" and "-inf" too
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


KINDS = ("int", "float", "bool", "str")
INT64_MAX = 2**63 - 1


def _parse(texts: list[str], kind: str) -> np.ndarray:
    if kind == "int":
        values = [int(t) for t in texts]
        # seeds reach 2^64 - 1: unsigned where a value passes int64 and none is negative
        wide = any(v > INT64_MAX for v in values) and all(v >= 0 for v in values)
        return np.array(values, dtype=np.uint64 if wide else np.int64)
    if kind == "float":
        return np.array([float(t) if t != "" else np.nan for t in texts], dtype=np.float64)
    if kind == "bool":
        return np.array([t == "true" for t in texts], dtype=bool)
    return np.array(texts, dtype=object)


def _columns(columns: Mapping[str, object]) -> dict[str, list]:
    out = {name: list(np.asarray(col).tolist()) if isinstance(col, np.ndarray) else list(col)
           for name, col in columns.items()}  # fmt: skip
    lengths = {len(col) for col in out.values()}
    if len(lengths) > 1:
        raise ValueError(f"table columns differ in length: { {name: len(c) for name, c in out.items()} }")
    return out


def write_table(results_dir, name: str, columns: Mapping[str, object], description: str = "") -> list[str]:
    """Save a table as ``tables/NAME.csv`` (and ``.parquet`` with pyarrow) and index it.

    Parameters
    ----------
    results_dir : path
        The results folder; the table goes into its ``tables/`` subfolder.
    name : str
        File stem, unique within the folder.
    columns : mapping
        Column name -> equal-length list or 1-D array.
    description : str
        One sentence on what a row is, kept in ``tables/index.json``.

    Returns
    -------
    list of str
        The files written, relative to ``results_dir``.
    """
    from ._files import atomic_write_bytes, atomic_write_text

    folder = Path(results_dir) / TABLES_DIR
    data = _columns(columns)
    kinds = {col: _kind(values) for col, values in data.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(data))
    rows = len(next(iter(data.values()), []))
    for i in range(rows):
        writer.writerow([_text(data[col][i], kinds[col]) for col in data])
    atomic_write_text(folder / f"{name}.csv", buffer.getvalue())
    files = [f"{TABLES_DIR}/{name}.csv"]
    parquet = _parquet_bytes(data, kinds)
    if parquet is not None:
        atomic_write_bytes(folder / f"{name}.parquet", parquet)
        files.append(f"{TABLES_DIR}/{name}.parquet")
    index = read_index(results_dir)
    # columns as [name, kind] pairs: a list keeps their order through the sorted JSON
    index[name] = {"description": description, "rows": rows, "columns": [[col, kind] for col, kind in kinds.items()]}
    atomic_write_text(folder / INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return files


def _parquet_bytes(data: dict[str, list], kinds: dict[str, str]) -> bytes | None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    arrays = {}
    for col, values in data.items():
        kind = kinds[col]
        if kind == "int" and any(v is not None and v > INT64_MAX for v in values):
            arrays[col] = pa.array(values, type=pa.uint64())  # seeds up to 2^64 - 1
            continue
        if kind == "str":
            values = ["" if v is None else str(v) for v in values]
        elif kind == "float":
            values = [np.nan if v is None or v == "" else float(v) for v in values]
        arrays[col] = pa.array(values, type=types[kind])
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    return buffer.getvalue()


def read_index(results_dir) -> dict:
    """``tables/index.json`` of a results folder: ``{name: {"description", "rows", "columns"}}``,
    ``columns`` a list of ``[column, kind]`` pairs in the table's order."""
    path = Path(results_dir) / TABLES_DIR / INDEX
    if not path.exists():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable tables index ({exc})") from None
    if not isinstance(index, dict):
        raise ValueError(f"{path}: expected an object of tables, got {type(index).__name__}")
    for name, entry in index.items():
        columns = entry.get("columns") if isinstance(entry, dict) else None
        rows = entry.get("rows") if isinstance(entry, dict) else None
        if not (isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0
                and isinstance(columns, list) and columns
                and all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and c[1] in KINDS
                        for c in columns)):  # fmt: skip
            raise ValueError(
                f"{path}: the entry of table {name!r} is damaged (expected rows, a count, and columns, "
                f"[name, kind] pairs with kinds among {', '.join(KINDS)})"
            )
    return index


def read_table(results_dir, name: str) -> dict[str, np.ndarray]:
    """One saved table as ``{column: ndarray}``, read from its CSV with the kinds of the index
    (floats bit for bit as written; ``str`` columns as object arrays)."""
    index = read_index(results_dir)
    if name not in index:
        raise ValueError(f"no table {name!r} in {Path(results_dir) / TABLES_DIR} (found: {sorted(index) or 'none'})")
    kinds = dict(index[name]["columns"])
    path = Path(results_dir) / TABLES_DIR / f"{name}.csv"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the table ({exc})") from None
    if not text.endswith("\n"):  # the writer ends every line: a cut file would read 115.0 as 11
        raise ValueError(f"{path}: truncated (it ends inside a line); rerun the command that wrote it")
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    if header != list(kinds):
        raise ValueError(f"{path}: columns {header} do not match the index {list(kinds)}")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line} has {len(row)} fields, expected {len(header)}")
    if len(rows) != index[name]["rows"]:
        raise ValueError(f"{path}: {len(rows)} rows, but its index says {index[name]['rows']}")
    table = {}
    for j, col in enumerate(header):
        try:
            table[col] = _parse([row[j] for row in rows], kinds[col])
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{path}: column {col} ({kinds[col]}) holds a value that is not one: {exc}") from None
    return table


def load_tables(results_dir, pandas: bool = True) -> dict:
    """Every table of a results folder.

    Parameters
    ----------
    results_dir : path
        A folder written by ``pgd-bench reproduce`` (or ``theory``).
    pandas : bool, default True
        Return pandas DataFrames (needs pandas); with ``False``, ``{column: ndarray}`` dicts.

    Returns
    -------
    dict
        Table name -> table, for every table in ``tables/index.json``.
    """
    if not isinstance(results_dir, str | Path) or str(results_dir).strip() == "":
        raise ValueError(f"results_dir: expected a folder path, got {results_dir!r}")
    names = sorted(read_index(results_dir))
    if not names:
        raise ValueError(
            f"{results_dir}: no saved tables (expected {TABLES_DIR}/{INDEX}, written by pgd-bench reproduce)"
        )
    tables = {name: read_table(results_dir, name) for name in names}
    if not pandas:
        return tables
    import pandas as pd

    return {name: pd.DataFrame(table) for name, table in tables.items()}


def concat_columns(tables: list[Mapping[str, object]]) -> dict[str, list]:
    """Stack tables (mappings of columns) or rows (mappings of scalars) into one table: the union
    of their columns in first-seen order, a column a part lacks filled with None (empty in CSV,
    NaN for numbers)."""
    parts = [{name: (value if isinstance(value, list | np.ndarray) else [value]) for name, value in part.items()}
             for part in tables]  # fmt: skip
    names = list(dict.fromkeys(name for part in parts for name in part))
    out: dict[str, list] = {name: [] for name in names}
    for part in parts:
        length = len(next(iter(part.values()), []))
        for name in names:
            values = part.get(name)
            out[name].extend(
                np.asarray(values).tolist() if isinstance(values, np.ndarray) else values or [None] * length
            )
    return out
