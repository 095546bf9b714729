"""One reader (and writer) per native format, all producing the same path model: a JSON-like
tree (what the agency's `schema.json` describes) plus a way to name a place in it the way the
agency would (CSV line and column, XML path, HL7 segment-field, JSON pointer)."""

from __future__ import annotations

from server.mapping.formats.base import Document, Format, ReadError
from server.mapping.formats.csv_rows import CsvFormat
from server.mapping.formats.hl7_v2 import Hl7Format
from server.mapping.formats.json_doc import JsonFormat
from server.mapping.formats.xml_doc import XmlFormat

_ALL: tuple[Format, ...] = (JsonFormat(), CsvFormat(), XmlFormat(), Hl7Format())
FORMATS: dict[str, Format] = {f.name: f for f in _ALL}

__all__ = ["FORMATS", "Document", "Format", "ReadError"]
