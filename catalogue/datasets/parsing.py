"""Reading a dataset file once, at upload: its columns, their inferred types and missing values, its row count.

CSV goes through the standard library's ``csv`` reader (the first row names the columns), JSON Lines through
``catalogue.jsontext.loads`` (one object per line). A file that cannot be read as a table is refused with a
``BadFile`` (400) naming the line and the column that is wrong. The same rules type the values on every read
(``catalogue.datasets.reading``), so what was checked here is what training sees.
"""

import csv
import io
import math
import re
from dataclasses import dataclass, field
from typing import Any

from catalogue.errors import InvalidInput
from catalogue.jsontext import InvalidJSON, loads

FORMATS = ("csv", "jsonl")
#: number, boolean, string; "json" only in datasets built from a learn log (lists, objects or mixed values).
TYPES = ("number", "boolean", "string")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BOOLEANS = {"true": True, "false": False}


class BadFile(InvalidInput):
    """A file that is not a table this server reads; the message names the line and the column."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None):
        where = ", ".join(part for part in (line and f"line {line}", column and f"column {column!r}") if part)
        super().__init__(f"{where}: {message}" if where else message, field="file")
        self.line, self.column = line, column


def guess_format(filename: str, content: bytes) -> str:
    """csv or jsonl, from the file's name (.csv, .jsonl, .ndjson), else from its first character."""
    lowered = filename.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else "csv"


def decode(content: bytes) -> str:
    """The file as text (UTF-8, a BOM allowed), or a BadFile naming the line of the first bad byte."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        offset = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = content[exc.start : exc.start + 1].hex()
        raise BadFile(f"byte {offset} (0x{byte}) is not UTF-8; save the file as UTF-8", line=line) from None


def lines(text: str) -> list[str]:
    """JSON Lines' lines: split at "\\n" only (a JSON string may hold U+2028, which str.splitlines splits at)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def csv_number(text: str) -> int | float | None:
    """The number a CSV cell spells (int without a point or exponent), or None if it is none (or not finite)."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    if not math.isfinite(number):
        return None
    return int(text) if "." not in text and "e" not in text.lower() else number


def csv_boolean(text: str) -> bool | None:
    return _BOOLEANS.get(text.strip().lower())


def csv_value(text: str, kind: str) -> Any:
    """A CSV cell as its column's type (the cell was checked against it at upload)."""
    if kind == "number":
        return csv_number(text)
    if kind == "boolean":
        return csv_boolean(text)
    return text


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"


@dataclass
class _Column:
    name: str
    missing: int = 0
    kind: str | None = None  # JSON Lines: the type of its first value
    since: int = 0  # the line of that first value
    numbers: bool = True  # CSV: every value so far is a number...
    booleans: bool = True  # ...or a boolean


@dataclass
class Schema:
    """What a file holds: [{"name", "type", "missing"}] in file order, and its number of rows."""

    columns: list[dict] = field(default_factory=list)
    rows: int = 0

    @property
    def names(self) -> list[str]:
        return [column["name"] for column in self.columns]


def _check_types(types: dict[str, str] | None) -> dict[str, str]:
    if not types:
        return {}
    for name, kind in types.items():
        if kind not in TYPES:
            raise InvalidInput(f"types: {name!r} must be one of {', '.join(TYPES)}; got {kind!r}", field="types")
    return dict(types)


def inspect(content: bytes, *, fmt: str, types: dict[str, str] | None = None, strict: bool = True) -> Schema:
    """The schema of ``content`` (CSV or JSON Lines), or a BadFile saying which line and column is wrong.

    ``types`` declares columns' types instead of inferring them (a value that does not fit is refused).
    ``strict=False`` (datasets built from a learn log) keeps a JSON column that mixes types as type "json".
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of: {', '.join(FORMATS)}; got {fmt!r}", field="format")
    declared = _check_types(types)
    text = decode(content)
    schema = _csv(text, declared) if fmt == "csv" else _jsonl(text, declared, strict=strict)
    unknown = sorted(set(declared) - set(schema.names))
    if unknown:
        raise InvalidInput(f"types: the file has no column {unknown[0]!r}", field="types")
    if schema.rows == 0:
        raise BadFile("the file holds no rows" if schema.columns else "the file is empty")
    return schema


def _csv(text: str, declared: dict[str, str]) -> Schema:
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise BadFile("holds a NUL character, which no column may hold", line=line)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return Schema()
        columns = _header(header)
        rows = 0
        for row in reader:
            if not row:
                continue  # a blank line (csv yields []): no row, as csv.DictReader reads it
            rows += 1
            if len(row) < len(columns):
                raise BadFile(
                    f"has {len(row)} fields; the header (line 1) has {len(columns)}",
                    line=reader.line_num,
                    column=columns[len(row)].name,
                )
            if len(row) > len(columns):
                raise BadFile(
                    f"has {len(row)} fields; the header (line 1) has {len(columns)}, so field {len(columns) + 1} "
                    "has no column",
                    line=reader.line_num,
                )
            for column, cell in zip(columns, row, strict=True):
                _csv_cell(column, cell, declared.get(column.name), reader.line_num)
    except csv.Error as exc:
        raise BadFile(f"is not valid CSV: {exc}", line=reader.line_num) from None
    return Schema([_csv_column(column, declared) for column in columns], rows)


def _header(header: list[str]) -> list[_Column]:
    seen: set[str] = set()
    for index, name in enumerate(header, start=1):
        if not name.strip():
            raise BadFile(f"column {index} of the header has no name", line=1)
        if name in seen:
            raise BadFile("the header names this column twice", line=1, column=name)
        seen.add(name)
    return [_Column(name) for name in header]


def _csv_cell(column: _Column, cell: str, declared: str | None, line: int) -> None:
    if cell == "":
        column.missing += 1
        return
    if declared == "number" and csv_number(cell) is None:
        raise BadFile(
            f"{cell[:40]!r} is not a number, and the column is declared a number", line=line, column=column.name
        )
    if declared == "boolean" and csv_boolean(cell) is None:
        raise BadFile(f"{cell[:40]!r} is not true or false (a boolean column)", line=line, column=column.name)
    if column.numbers and csv_number(cell) is None:
        column.numbers = False
    if column.booleans and csv_boolean(cell) is None:
        column.booleans = False


def _csv_column(column: _Column, declared: dict[str, str]) -> dict:
    kind = declared.get(column.name)
    if kind is None:
        kind = "number" if column.numbers else "boolean" if column.booleans else "string"
    return {"name": column.name, "type": kind, "missing": column.missing}


def _jsonl(text: str, declared: dict[str, str], *, strict: bool) -> Schema:
    columns: dict[str, _Column] = {}
    rows = 0
    for line_number, line in enumerate(lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except InvalidJSON as exc:
            raise BadFile(f"is not JSON: {exc}", line=line_number) from None
        if not isinstance(record, dict):
            raise BadFile(f'is a JSON {type(record).__name__}, not an object like {{"x": 1.5}}', line=line_number)
        rows += 1
        for name, value in record.items():
            column = columns.get(name)
            if column is None:
                if not name.strip():
                    raise BadFile("a key is empty: every column needs a name", line=line_number)
                column = columns[name] = _Column(name, missing=rows - 1)  # absent from the rows before
            _json_value(column, value, declared.get(name), line_number, strict=strict)
        for name, column in columns.items():
            if name not in record:
                column.missing += 1
    return Schema([_json_column(column, declared) for column in columns.values()], rows)


def _json_value(column: _Column, value: Any, declared: str | None, line: int, *, strict: bool) -> None:
    if value is None:
        column.missing += 1
        return
    kind = json_kind(value)
    if kind == "number" and not math.isfinite(value):
        raise BadFile(f"{value} is not a finite number", line=line, column=column.name)
    if strict and kind == "json":
        raise BadFile(
            f"holds a {type(value).__name__}; a column holds numbers, booleans or strings",
            line=line,
            column=column.name,
        )
    expected = declared or column.kind
    if expected is not None and kind != expected and expected != "json":
        if strict:
            since = "is declared" if declared else f"is a {expected} column since line {column.since}"
            raise BadFile(f"{_show(value)} is a {kind}, but the column {since}", line=line, column=column.name)
        column.kind = "json"
    elif column.kind is None:
        column.kind, column.since = kind, line


def _json_column(column: _Column, declared: dict[str, str]) -> dict:
    kind = declared.get(column.name) or column.kind or "string"  # a column of nulls only: nothing to infer
    return {"name": column.name, "type": kind, "missing": column.missing}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
