"""CSV extracts (Connexions): one dict per data row, keyed by the header, every value a string.

Accepts a UTF-8 byte-order mark, CRLF or LF, RFC 4180 quoting. A place is `line N, column C`,
where N counts physical lines (a quoted cell may span several) and C is the header name.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from server.mapping.formats.base import Document, ReadError, decode
from server.mapping.paths import Pointer


class CsvFormat:
    name = "csv"
    media_types: tuple[str, ...] = ("text/csv",)

    def read(self, data: bytes) -> Document:
        reader = csv.DictReader(io.StringIO(decode(data), newline=""), strict=True)
        rows: list[dict[str, Any]] = []
        lines: list[int] = []
        try:
            if not reader.fieldnames:
                raise ReadError("no header row", "line 1")
            start = reader.line_num + 1
            for row in reader:
                rows.append({k: v for k, v in row.items() if k is not None})
                lines.append(start)
                start = reader.line_num + 1
        except csv.Error as error:
            raise ReadError(f"not CSV: {error}", f"line {reader.line_num}") from None
        columns = list(reader.fieldnames)

        def locate(pointer: Pointer) -> str:
            if not pointer or not isinstance(pointer[0], int) or pointer[0] >= len(lines):
                return "line 1"
            where = f"line {lines[pointer[0]]}"
            if len(pointer) > 1 and pointer[1] in columns:
                where += f", column {columns.index(str(pointer[1])) + 1} ({pointer[1]})"
            return where

        return Document(rows, locate)

    def render(self, tree: Any, columns: list[str] | None = None) -> bytes:
        rows = tree if isinstance(tree, list) else [tree]
        header = list(columns or [])
        for row in rows:
            header += [k for k in row if k not in header]
        out = io.StringIO()
        writer = csv.DictWriter(out, header, restval="", lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return out.getvalue().encode()
