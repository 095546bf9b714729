"""HL7 v2 messages (health), one message per document.

python-hl7 splits the message (separators taken from MSH-1/MSH-2); this module turns its
containers into the shape the health schema describes: `{"segments": [{"id", "fields"}]}` with
`fields[i]` = field i+1, a field a string, a list of components, or a list of repetitions;
subcomponents left joined; delimiter escapes decoded after splitting. Real-world quirks are
tolerated first: MLLP framing, a byte-order mark, `\n` or `\r\n` between segments, blank lines.
A place is `PID-3` (with `PID[2]-3` for a repeated segment, `[r]` for a repetition, `.c` for a
component).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

import hl7

from server.mapping.formats.base import Document, ReadError, decode, text_lines
from server.mapping.paths import Pointer

_FRAMING = str.maketrans("", "", "\x0b\x1c")
_ENVELOPE = frozenset({"FHS", "BHS", "BTS", "FTS"})
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")


class Hl7Format:
    name = "hl7v2"
    media_types: tuple[str, ...] = ("application/hl7-v2", "x-application/hl7-v2+er7")

    def read(self, data: bytes) -> Document:
        text = decode(data).translate(_FRAMING).lstrip("\ufeff")
        lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
        if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
            raise ReadError("not an HL7 v2 message: it must start with an MSH segment",
                            "segment 1")
        for number, line in enumerate(lines, 1):
            if not _SEGMENT_ID.fullmatch(line[:3]):
                raise ReadError(f"not an HL7 v2 segment: {line[:10]!r}", f"segment {number}")
        try:
            message = hl7.parse("\r".join(lines))
        except Exception as error:  # python-hl7 raises several types for broken messages
            raise ReadError(f"not an HL7 v2 message: {error}", "MSH") from None
        separators = lines[0][3:8]
        segments = [_segment(segment, separators) for segment in message]
        return Document({"segments": segments}, _locator(segments))

    def documents(self, source: IO[bytes], size: int) -> Iterator[Document]:
        """Yield one document per message of a file that holds one or many (a new MSH starts
        the next; batch envelope segments FHS/BHS/BTS/FTS are dropped)."""
        segments: list[str] = []
        for raw in text_lines(source):
            line = raw.translate(_FRAMING).strip("\r\n\ufeff")
            if not line.strip() or line[:3] in _ENVELOPE:
                continue
            if line.startswith("MSH") and segments:
                yield self.read("\r".join(segments).encode())
                segments = []
            segments.append(line)
        if segments:
            yield self.read("\r".join(segments).encode())

    def render(self, tree: Any, columns: list[str] | None = None) -> bytes:
        lines = []
        for segment in tree.get("segments", []):
            fields = list(segment.get("fields", []))
            if segment.get("id") == "MSH":  # MSH-2 holds the encoding characters, unescaped
                encoding = str(fields[1]) if len(fields) > 1 else "^~\\&"
                lines.append("|".join(["MSH", encoding, *(_field(f) for f in fields[2:])]))
            else:
                lines.append("|".join([segment["id"], *(_field(f) for f in fields)]))
        return ("\r".join(lines) + "\r").encode()


def _segment(segment: Any, separators: str) -> dict[str, Any]:
    sid = str(segment[0])
    if sid == "MSH":  # MSH-1 is the field separator itself, MSH-2 the encoding characters
        fields: list[Any] = [separators[0], separators[1:]]
        fields += [_value(segment[i], separators) for i in range(3, len(segment))]
    else:
        fields = [_value(segment[i], separators) for i in range(1, len(segment))]
    return {"id": sid, "fields": fields}


def _value(field: Any, separators: str) -> Any:
    if isinstance(field, str):
        return _unescape(field)
    repetitions = [_repetition(r, separators) for r in field]
    if len(field) == 1 and isinstance(field[0], str):
        return _unescape(field[0])
    return repetitions[0] if len(repetitions) == 1 else repetitions


def _repetition(repetition: Any, separators: str) -> Any:
    if isinstance(repetition, str):
        return _unescape(repetition)
    sub = separators[4] if len(separators) > 4 else "&"
    components = [_unescape(c if isinstance(c, str) else sub.join(str(s) for s in c))
                  for c in repetition]
    return components[0] if len(components) == 1 else components


_ESCAPES = {"\\F\\": "|", "\\S\\": "^", "\\T\\": "&", "\\R\\": "~", "\\E\\": "\\"}
_ESCAPE = re.compile(r"\\[FSTRE]\\")
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def _unescape(text: str) -> str:
    # Only the delimiter escapes: formatting ones (\.br\, \H\, \Xhh\) are the mapping's to render.
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], text)


def _escape(text: str) -> str:
    out = text.replace("\\", "\\E\\")
    out = re.sub(r"\\E\\(\.br|[HNX][0-9A-Fa-f]*)\\E\\", r"\\\1\\", out)  # keep formatting
    for char in "|^&~":
        out = out.replace(char, _UNESCAPES[char])
    return out


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _escape(value)
    if value and all(isinstance(v, list) for v in value):
        return "~".join(_components(v) for v in value)
    return _components(value)


def _components(values: list[Any]) -> str:
    return "^".join("" if v is None else _field(v) if isinstance(v, list) else _escape(str(v))
                    for v in values).rstrip("^")


def _locator(segments: list[dict[str, Any]]) -> Any:
    def locate(pointer: Pointer) -> str:
        if len(pointer) < 2 or not isinstance(pointer[1], int) or pointer[1] >= len(segments):
            return "message"
        sid = segments[pointer[1]]["id"]
        same = [i for i, s in enumerate(segments) if s["id"] == sid]
        where = sid if len(same) == 1 else f"{sid}[{same.index(pointer[1]) + 1}]"
        rest = [p for p in pointer[3:] if isinstance(p, int)]
        if len(pointer) > 3 and rest:
            where += f"-{rest[0] + 1}"
            for step in rest[1:]:
                where += f".{step + 1}"
        return where
    return locate
