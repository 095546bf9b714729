"""What every format offers: read bytes into a Document, render a tree back into bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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


def decode(data: bytes) -> str:
    """Return UTF-8 text without a byte-order mark; raises ReadError for other encodings."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReadError(f"not UTF-8 text (byte {error.start})", f"byte {error.start}") from None
