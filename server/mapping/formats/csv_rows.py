"""CSV extracts (Connexions): one dict per data row, keyed by the header, every value a string.

Accepts a UTF-8 byte-order mark, CRLF or LF, RFC 4180 quoting. A place is `line N, column C`,
where N counts physical lines (a quoted cell may span several) and C is the header name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from server.mapping.formats.base import Document, ReadError, text_lines
from server.mapping.paths import Pointer


class CsvFormat:
    name = "csv"
    media_types: tuple[str, ...] = ("text/csv",)

    def read(self, data: bytes) -> Document:
        documents = list(self.documents(io.BytesIO(data), size=0))
        return documents[0]

    def documents(self, source: IO[bytes], size: int) -> Iterator[Document]:
        """Yield documents of `size` rows (0: all rows in one), line numbers counted across
        the whole file; a header-only file is one empty document."""
        reader = csv.DictReader(text_lines(source), strict=True)
        rows: list[dict[str, Any]] = []
        lines: list[int] = []
        columns: list[str] = []
        try:
            if not reader.fieldnames:
                raise ReadError("no header row", "line 1")
            columns = list(reader.fieldnames)
            start, sent = reader.line_num + 1, False
            for row in reader:
                rows.append({k: v for k, v in row.items() if k is not None})
                lines.append(start)
                start = reader.line_num + 1
                if size and len(rows) >= size:
                    yield Document(rows, _locator(lines, columns))
                    rows, lines, sent = [], [], True
            if rows or not sent:
                yield Document(rows, _locator(lines, columns))
        except csv.Error as error:
            where = f"line {reader.line_num}"
            if rows:  # the rows read before the break stand
                yield Document(rows, _locator(lines, columns))
            raise ReadError(f"not CSV: {error}", where) from None

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


def _locator(lines: list[int], columns: list[str]) -> Callable[[Pointer], str]:
    def locate(pointer: Pointer) -> str:
        if not pointer or not isinstance(pointer[0], int) or pointer[0] >= len(lines):
            return f"line {lines[0]}" if lines else "line 1"
        where = f"line {lines[pointer[0]]}"
        if len(pointer) > 1 and pointer[1] in columns:
            where += f", column {columns.index(str(pointer[1])) + 1} ({pointer[1]})"
        return where
    return locate
