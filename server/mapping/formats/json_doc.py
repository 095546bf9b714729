"""JSON documents (social care): the tree is the JSON itself; places are JSON pointers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from server.mapping.formats.base import Document, ReadError, decode, whole
from server.mapping.paths import Pointer


class JsonFormat:
    name = "json"
    media_types: tuple[str, ...] = ("application/json",)

    def read(self, data: bytes) -> Document:
        try:
            tree = json.loads(decode(data))
        except json.JSONDecodeError as error:
            raise ReadError(f"not JSON: {error.msg}",
                            f"line {error.lineno}, column {error.colno}") from None
        return Document(tree, pointer_text)

    def documents(self, source: IO[bytes], size: int) -> Iterator[Document]:
        return whole(self, source)

    def render(self, tree: Any, columns: list[str] | None = None) -> bytes:
        return json.dumps(tree, indent=2, ensure_ascii=False).encode() + b"\n"


def pointer_text(pointer: Pointer) -> str:
    """Return the RFC 6901 JSON pointer of `pointer`."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in pointer)
