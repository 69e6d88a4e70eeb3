"""A CSV manifest: one row per image, a column with the image's path and one with its label.

Rows are numbered as data rows from 1 (the first row after the header; blank lines are not
counted), which is what a spreadsheet shows less one: every message says "row N after the header"
so there is no doubt which numbering it means.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gan_aug.data.decode import decode_all
from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource, ReadOptions
from gan_aug.progress import Progress

PATH_COLUMNS = ("path", "image", "file", "filename", "filepath")  # tried in this order, any case
MISSING_LABELS = frozenset({"", "nan", "NaN", "NA"})


def _where(csv: Path, row: int) -> str:
    return f"{csv}, row {row} after the header"


def _read_table(csv: Path) -> pd.DataFrame:
    """Every cell as text, so labels keep their spelling ("3" stays "3", "007" stays "007")."""
    if not csv.exists():
        raise DataError(f"CSV manifest {csv} not found; check data.source")
    if not csv.is_file():
        raise DataError(f"{csv} is not a file; data.source should name a CSV manifest")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DataError(f"CSV manifest {csv} is empty; expected a header row naming a path column and a "
                        "label column") from None
    except UnicodeDecodeError as error:
        raise DataError(f"CSV manifest {csv} is not UTF-8 text ({error.reason} at byte {error.start}); "
                        "save it as UTF-8") from None
    except (ValueError, OSError) as error:  # pandas' ParserError is a ValueError
        raise DataError(f"CSV manifest {csv} could not be parsed as CSV ({error})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if len(table.columns) == 1 and any(sep in table.columns[0] for sep in ";\t|"):
        raise DataError(f"CSV manifest {csv} has a single column {table.columns[0]!r}; it looks separated by "
                        "something other than commas: save it comma-separated")
    if table.empty:
        raise DataError(f"CSV manifest {csv} has a header but no data rows")
    return table


def _path_column(table: pd.DataFrame, csv: Path, options: ReadOptions) -> str:
    """The configured image column, else the first of PATH_COLUMNS present (case-insensitive)."""
    columns = list(table.columns)
    if options.image_column is not None:
        if options.image_column not in columns:
            raise DataError(f"CSV manifest {csv} has no column {options.image_column!r}; set "
                            f"data.image_column to one of {columns}")
        return options.image_column
    by_lower = {c.lower(): c for c in reversed(columns)}  # the first spelling wins on a tie
    for name in PATH_COLUMNS:
        if name in by_lower:
            return by_lower[name]
    raise DataError(f"CSV manifest {csv} has no image path column (looked for {list(PATH_COLUMNS)}); set "
                    f"data.image_column to one of {columns}")


def _label_column(table: pd.DataFrame, csv: Path, options: ReadOptions) -> str:
    if options.label_column not in table.columns:
        raise DataError(f"CSV manifest {csv} has no column {options.label_column!r}; set data.label_column "
                        f"to one of {list(table.columns)}")
    return options.label_column


def _cell(value: object) -> str:
    """Short rows leave NaN even with dtype=str; treat them like empty cells."""
    return value.strip() if isinstance(value, str) else ""


def _rows(table: pd.DataFrame, csv: Path, path_col: str, label_col: str) -> list[tuple[str, Path, str]]:
    """(path as written, resolved file, label) per row; a missing label, path or file names its row."""
    rows = []
    for row, (written, label) in enumerate(zip(table[path_col], table[label_col]), 1):
        written, label = _cell(written), _cell(label)
        if label in MISSING_LABELS:
            raise DataError(f"{_where(csv, row)}: no label in column {label_col!r}; fill it in or remove the row")
        if not written:
            raise DataError(f"{_where(csv, row)}: no image path in column {path_col!r}; fill it in or remove "
                            "the row")
        file = csv.parent / written  # an absolute path stays absolute
        if not _is_file(file):
            raise DataError(f"{_where(csv, row)}: image {written!r} not found (looked for {file}); fix the path "
                            f"in column {path_col!r} (relative paths start at {csv.parent})")
        rows.append((written, file, label))
    return rows


def _is_file(path: Path) -> bool:
    """Path.is_file raises on names the OS rejects (too long, NUL bytes); those are not files either."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def read_csv_manifest(path: Path, options: ReadOptions, progress: Progress | None = None) -> RawSource:
    """Decode every image the manifest lists; origins are the paths as written in the CSV."""
    csv = Path(path)
    table = _read_table(csv)
    rows = _rows(table, csv, _path_column(table, csv, options), _label_column(table, csv, options))
    where = [f"{_where(csv, i)} ({written})" for i, (written, _, _) in enumerate(rows, 1)]
    decoded = decode_all([file for _, file, _ in rows], where, options.decode, progress)
    kept = [(written, label) for (written, _, label), keep in zip(rows, decoded.kept.tolist()) if keep]
    return RawSource(decoded.images, [label for _, label in kept], [written for written, _ in kept],
                     decoded.problems, formats=decoded.formats)
