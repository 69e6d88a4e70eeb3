"""Parquet tables of images: Hugging Face ``{bytes, path}`` structs (our own shards included), raw
encoded bytes, or file paths; one file or a folder of files sharing one schema.

Rows are read in record batches and only the image and label columns are kept, so memory holds
the encoded images rather than whole tables; decoding then runs in parallel (``decode_all``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gan_aug.data.decode import decode_all
from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource, ReadOptions
from gan_aug.progress import Progress

_BATCH_ROWS = 1024
_PATH_NAMES = ("path", "file", "filename", "file_name", "filepath", "file_path", "image_path", "image_file")


@dataclass(frozen=True)
class _Columns:
    image: str
    image_kind: str  # "struct" ({bytes, path}), "binary" (encoded bytes) or "path" (file paths)
    label: str
    label_kind: str  # "int", "float" or "str"
    class_names: list[str] | None  # Hugging Face ClassLabel names, when the file declares them


@dataclass
class _Rows:
    refs: list  # per row: encoded bytes or a resolved file path, for decode_all
    decode_origins: list[str]  # "file:row", plus the image path when there is one
    labels: list[str]
    origins: list[str]


def read_parquet(path: Path, options: ReadOptions, progress: Progress | None = None) -> RawSource:
    """A .parquet file, or every *.parquet in a folder (sorted by name), as a RawSource."""
    files = _parquet_files(Path(path))
    schemas = [_open(file).schema_arrow for file in files]
    _check_same_schema(files, schemas)
    columns = _columns(files[0], schemas[0], options)
    _check_same_class_names(files, schemas, columns)
    rows = _Rows([], [], [], [])
    for file in files:
        _read_rows(file, columns, rows)
    if not rows.refs:
        raise DataError(f"{path} has no rows")
    decoded = decode_all(rows.refs, rows.decode_origins, options.decode, progress)
    kept = decoded.kept.tolist()
    return RawSource(
        images=decoded.images,
        labels=[label for label, keep in zip(rows.labels, kept) if keep],
        origins=[origin for origin, keep in zip(rows.origins, kept) if keep],
        problems=decoded.problems,
        class_names=columns.class_names,
        formats=decoded.formats,
    )


def _parquet_files(path: Path) -> list[Path]:
    if not path.exists():
        raise DataError(f"{path} does not exist; check data.source")
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.glob("*.parquet") if p.is_file())
    if not files:
        raise DataError(f"{path} is a folder with no *.parquet files; "
                        f"point data.source at a .parquet file or a folder of them")
    return files


def _open(file: Path) -> pq.ParquetFile:
    """Open and read the footer; pyarrow's own errors become a DataError naming the file."""
    try:
        return pq.ParquetFile(file)
    except (pa.ArrowException, OSError, ValueError, IndexError) as error:
        raise DataError(f"{file} is not a readable Parquet file ({error})") from None


def _check_same_schema(files: list[Path], schemas: list[pa.Schema]) -> None:
    for file, schema in zip(files[1:], schemas[1:]):
        if not schema.equals(schemas[0], check_metadata=False):
            raise DataError(
                f"{file} has columns {_describe(schema)} but {files[0]} has {_describe(schemas[0])}; "
                f"all Parquet files in {files[0].parent} must share one schema"
            )


def _describe(schema: pa.Schema) -> str:
    return "[" + ", ".join(f"{f.name}: {f.type}" for f in schema) + "]"


def _columns(file: Path, schema: pa.Schema, options: ReadOptions) -> _Columns:
    label = options.label_column
    if label not in schema.names:
        raise DataError(f"{file} has no column {label!r}; set data.label_column to one of {schema.names}")
    label_kind = _label_kind(file, label, schema.field(label).type)
    image, image_kind = _image_column(file, schema, options)
    names = _class_label_names(schema, label) if label_kind == "int" else None
    return _Columns(image, image_kind, label, label_kind, names)


def _label_kind(file: Path, name: str, dtype: pa.DataType) -> str:
    dtype = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "str"
    raise DataError(
        f"{file}: column {name!r} has type {dtype}, but labels must be integers or strings; "
        f"set data.label_column to the column holding each row's class"
    )


def _image_kind(dtype: pa.DataType) -> str | None:
    """What an image column of this type holds, or None when it cannot hold images."""
    if pa.types.is_struct(dtype):
        fields = {dtype.field(i).name: dtype.field(i).type for i in range(dtype.num_fields)}
        path_ok = "path" not in fields or pa.types.is_string(fields["path"]) or pa.types.is_large_string(fields["path"])
        return "struct" if "bytes" in fields and _is_binary(fields["bytes"]) and path_ok else None
    if _is_binary(dtype):
        return "binary"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "path"
    return None


def _is_binary(dtype: pa.DataType) -> bool:
    return pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype)


def _image_column(file: Path, schema: pa.Schema, options: ReadOptions) -> tuple[str, str]:
    """The configured image column, else the first struct-with-bytes, binary or path-named string one."""
    name = options.image_column
    if name is not None:
        if name not in schema.names:
            raise DataError(f"{file} has no column {name!r}; set data.image_column to one of {schema.names}")
        kind = _image_kind(schema.field(name).type)
        if kind is None:
            raise DataError(
                f"{file}: column {name!r} has type {schema.field(name).type}; data.image_column must name a "
                f"{{bytes, path}} struct, a binary (encoded image) or a string (file path) column"
            )
        return name, kind
    kinds = {f.name: _image_kind(f.type) for f in schema if f.name != options.label_column}
    for wanted in ("struct", "binary"):
        found = [n for n, k in kinds.items() if k == wanted]
        if found:
            return found[0], wanted
    found = [n for n, k in kinds.items() if k == "path" and n.lower() in _PATH_NAMES]
    if found:
        return found[0], "path"
    raise DataError(
        f"{file} has no usable image column among {_describe(schema)}: expected a {{bytes, path}} struct, "
        f"a binary column or a file-path column named like 'path'/'file'/'filename'; set data.image_column"
    )


def _class_label_names(schema: pa.Schema, label: str) -> list[str] | None:
    """ClassLabel names from Hugging Face metadata, when present and well formed (else ignored)."""
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        names = json.loads(raw)["info"]["features"][label]["names"]
    except (TypeError, KeyError, ValueError):
        return None
    ok = isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    return list(names) if ok else None


def _check_same_class_names(files: list[Path], schemas: list[pa.Schema], columns: _Columns) -> None:
    if columns.label_kind != "int":
        return
    for file, schema in zip(files[1:], schemas[1:]):
        if _class_label_names(schema, columns.label) != columns.class_names:
            raise DataError(
                f"{file} and {files[0]} declare different class names for {columns.label!r} in their "
                f"Hugging Face metadata; the same integer would mean different classes"
            )


def _read_rows(file: Path, columns: _Columns, rows: _Rows) -> None:
    """Append one file's rows, batch by batch, reading only the image and label columns."""
    wanted = list(dict.fromkeys([columns.image, columns.label]))
    offset = 0
    try:
        for batch in _open(file).iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            images = batch.column(wanted.index(columns.image)).to_pylist()
            labels = _label_strings(batch.column(wanted.index(columns.label)), file, offset, columns)
            for i, value in enumerate(images):
                ref, shown = _image_ref(value, file, offset + i, columns)
                rows.refs.append(ref)
                rows.decode_origins.append(f"{file}:{offset + i}" + (f" ({shown})" if shown else ""))
                rows.origins.append(f"{file}:{offset + i}")
            rows.labels.extend(labels)
            offset += batch.num_rows
    except (pa.ArrowException, OSError, IndexError) as error:
        raise DataError(f"{file} is not a readable Parquet file (after row {offset}: {error})") from None


def _image_ref(value, file: Path, row: int, columns: _Columns) -> tuple[bytes | Path, str | None]:
    """Encoded bytes, or the file a path points at (relative to the Parquet file's folder)."""
    if columns.image_kind == "struct" and value is not None:
        value = value["bytes"] if value.get("bytes") is not None else value.get("path")
        if isinstance(value, str):
            return file.parent / value, value
    if value is None:
        raise DataError(f"{file}: image is null at row {row} (column {columns.image!r}, set by data.image_column)")
    if columns.image_kind == "path":
        return file.parent / value, value
    return value, None


def _label_strings(array: pa.Array, file: Path, offset: int, columns: _Columns) -> list[str]:
    """Each row's label as text ("3", not "3.0"); ClassLabel ints become their names."""
    out = []
    for i, value in enumerate(array.to_pylist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise DataError(f"{file}: label is {'null' if value is None else 'NaN'} at row {offset + i} "
                            f"(column {columns.label!r}, set by data.label_column)")
        if isinstance(value, float):
            if not value.is_integer():
                raise DataError(f"{file}: label {value} at row {offset + i} is not a whole number "
                                f"(column {columns.label!r})")
            value = int(value)
        out.append(_named(value, file, offset + i, columns) if columns.class_names else str(value))
    return out


def _named(value: int, file: Path, row: int, columns: _Columns) -> str:
    names = columns.class_names
    if not 0 <= value < len(names):
        raise DataError(
            f"{file}: label {value} at row {row} is outside the {len(names)} class names "
            f"in the file's Hugging Face ClassLabel metadata for column {columns.label!r}"
        )
    return names[value]
