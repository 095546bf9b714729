"""What every format offers: read bytes into a Document, render a tree back into bytes."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from server.mapping.paths import Pointer


class ReadError(ValueError):
    """Content that is not the format at all; `where` names the place the way the agency would."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


@dataclass
class Document:
    """A parsed native document: `tree` has the shape the agency's schema describes."""

    tree: Any
    locator: Callable[[Pointer], str] = field(repr=False)

    def locate(self, pointer: Pointer) -> str:
        """Return where `pointer` is, in the agency's own terms (e.g. `line 3, column DOB`)."""
        return self.locator(pointer)


class Format(Protocol):
    name: str
    media_types: tuple[str, ...]

    def read(self, data: bytes) -> Document:
        """Return the parsed document; raises ReadError for content that cannot be parsed."""
        ...

    def render(self, tree: Any, columns: list[str] | None = None) -> bytes:
        """Return `tree` written in this format (`columns`: the CSV header order)."""
        ...

    def documents(self, source: IO[bytes], size: int) -> Iterator[Document]:
        """Yield the content of `source` as documents of about `size` records, reading it
        bit by bit where the format allows (CSV rows, HL7 messages) so that memory does not
        grow with the upload; raises ReadError as `read` does."""
        ...


def whole(format_: Format, source: IO[bytes]) -> Iterator[Document]:
    """The documents of a format that is one document per upload (JSON, XML)."""
    yield format_.read(source.read())


# Only CR, LF and CRLF end a line: CSV and HL7 text may hold other Unicode separators.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")


def text_lines(source: IO[bytes]) -> Iterator[str]:
    """Yield the UTF-8 lines of `source` (a byte-order mark dropped, line ends kept)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset, pending = 0, ""
    while block := source.read(1 << 16):
        try:
            pending += decoder.decode(block)
        except UnicodeDecodeError as error:
            where = offset + error.start
            raise ReadError(f"not UTF-8 text (byte {where})", f"byte {where}") from None
        offset += len(block)
        end = 0
        for found in _LINE.finditer(pending):
            if found.end() == len(pending) and pending.endswith("\r"):
                break  # a "\r" at the end may be half of a "\r\n" in the next block
            yield found.group()
            end = found.end()
        pending = pending[end:]
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ReadError(f"not UTF-8 text (byte {offset})", f"byte {offset}") from None
    if pending:
        yield pending


def decode(data: bytes) -> str:
    """Return UTF-8 text without a byte-order mark; raises ReadError for other encodings."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReadError(f"not UTF-8 text (byte {error.start})", f"byte {error.start}") from None
