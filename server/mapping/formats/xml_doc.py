"""XML documents (education, police), parsed the way xmltodict does: elements are keys,
attributes `@name`, text beside attributes `#text`, repeated elements lists. A place is an
XPath such as `/PublicProtectionNotice/Subjects/Child[2]/DateOfBirth`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any
from xml.parsers.expat import ExpatError

import xmltodict

from server.mapping.formats.base import Document, ReadError, whole
from server.mapping.paths import Pointer


class XmlFormat:
    name = "xml"
    media_types: tuple[str, ...] = ("application/xml", "text/xml")

    def read(self, data: bytes) -> Document:
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            # No DTDs: entity expansion is the classic XML denial of service.
            raise ReadError("XML with a DOCTYPE or ENTITY declaration is not accepted")
        try:
            tree = xmltodict.parse(data, disable_entities=True)
        except ExpatError as error:
            raise ReadError(f"not well-formed XML: {error}",
                            f"line {error.lineno}, column {error.offset + 1}") from None
        return Document(tree, xpath)

    def documents(self, source: IO[bytes], size: int) -> Iterator[Document]:
        return whole(self, source)

    def render(self, tree: Any, columns: list[str] | None = None) -> bytes:
        text: str = xmltodict.unparse(tree, pretty=True, indent="  ")
        return text.encode() + b"\n"


def xpath(pointer: Pointer) -> str:
    """Return the XPath of `pointer` (list positions become 1-based predicates)."""
    out = ""
    for step in pointer:
        if isinstance(step, int):
            out += f"[{step + 1}]"
        elif step == "#text":
            continue
        elif step.startswith("@"):
            out += "/" + step
        else:
            out += "/" + step
    return out or "/"
