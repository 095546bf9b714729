"""Validating FHIR JSON files offline, with each issue placed at its line and column.

`validate_file` reads one file holding a resource or a Bundle, validates it (a Bundle's
entries each against their type's required profile) with the shipped definitions only (no
server, no terminology server), and returns `FileIssue`s: the validator's message id,
message and FHIRPath expression, the 1-based line and column of the element the
expression names (or of its nearest existing parent), and the justification when a
suppression covers the issue (by message id + expression, never by message text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from json_source_map import calculate

from server.conformance.suppressions import Suppression, find
from server.errors import Issue
from server.validation import ResourceValidator

Json = dict[str, Any]
Location = tuple[int, int]  # 1-based line and column

# One step of the FHIRPath expressions the validator writes: `name`, `name[2]`,
# `ofType(Quantity)`, `extension('url')`, `where(url = 'url')`; anything else stops the walk.
_STEP = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?"
    r"|ofType\((?P<type>[A-Za-z][A-Za-z0-9_.]*)\)"
    r"|extension\(\s*'(?P<ext>(?:[^'\\]|\\.)*)'\s*\)(?:\[(?P<ext_index>\d+)\])?"
    r"|where\(\s*url\s*=\s*'(?P<where>(?:[^'\\]|\\.)*)'\s*\)(?:\[(?P<where_index>\d+)\])?")


@dataclass(frozen=True)
class FileIssue:
    """One issue in one file, where it is and whether a suppression covers it."""

    file: str
    line: int
    column: int
    severity: str
    message_id: str
    message: str
    expression: str | None
    suppressed: str | None = None  # the covering suppression's justification

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal")

    def describe(self) -> str:
        """`FILE:LINE:COL: severity [id] message (expression)`, plus the suppression."""
        text = f"{self.file}:{self.line}:{self.column}: {self.severity} [{self.message_id}] " \
               f"{self.message}"
        if self.expression:
            text += f" ({self.expression})"
        if self.suppressed is not None:
            text += f" suppressed: {self.suppressed}"
        return text


def validate_file(path: Path, validator: ResourceValidator, required: dict[str, str],
                  suppressions: Iterable[Suppression] = ()) -> list[FileIssue]:
    """Return the issues in the JSON file at `path`, in file order.

    `required` maps a resource type to the profile it must conform to (the enforcement).
    Raises OSError when the file cannot be read; bad content is always an issue.
    """
    return validate_text(path.read_bytes(), str(path), validator, required, suppressions)


def validate_text(raw: bytes | str, file: str, validator: ResourceValidator,
                  required: dict[str, str],
                  suppressions: Iterable[Suppression] = ()) -> list[FileIssue]:
    """Like `validate_file`, for contents already read (`file` names them in the issues)."""
    rules = list(suppressions)
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        return [_issue(file, (1, 1), "error", "json-invalid",
                       f"The file is not UTF-8 text: {error.reason} at byte {error.start}",
                       None, rules)]
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        return [_issue(file, (error.lineno, error.colno), "error", "json-invalid",
                       f"The file is not valid JSON: {error.msg}", None, rules)]
    except ValueError as error:  # NaN / Infinity, which FHIR JSON does not allow
        return [_issue(file, (1, 1), "error", "json-invalid",
                       f"The file is not valid JSON: {error}", None, rules)]
    if type(document) is not dict or type(document.get("resourceType")) is not str:
        what = "a JSON object without a string resourceType" if type(document) is dict \
            else f"a JSON {_json_kind(document)}"
        return [_issue(file, (1, 1) if type(document) is not dict else _root(text), "error",
                       "not-a-resource", f"The file holds {what}, not a FHIR resource",
                       None, rules)]
    places = _source_map(text)
    out = [
        _issue(file, locate(document, places, issue.expression), issue.severity,
               issue.message_id or issue.code, issue.diagnostics, issue.expression, rules)
        for issue in _validate(document, validator, required)
    ]
    return sorted(out, key=lambda i: (i.line, i.column))


def summary(issues: list[FileIssue], files: int) -> str:
    """One line counting the files and the issues by severity, suppressed ones apart."""
    live = [i for i in issues if i.suppressed is None]
    errors = sum(1 for i in live if i.is_error)
    warnings = sum(1 for i in live if i.severity == "warning")
    information = sum(1 for i in live if i.severity == "information")
    suppressed = len(issues) - len(live)
    plural = "" if files == 1 else "s"
    return (f"{files} file{plural}: {errors} error(s), {warnings} warning(s), "
            f"{information} information, {suppressed} suppressed")


def _validate(resource: Json, validator: ResourceValidator,
              required: dict[str, str]) -> list[Issue]:
    """The issues of a resource; for a Bundle also each entry's against its profile."""
    issues = validator.validate(resource, required.get(resource["resourceType"]))
    if resource["resourceType"] != "Bundle" or type(resource.get("entry")) is not list:
        return issues
    for n, entry in enumerate(resource["entry"]):
        inner = entry.get("resource") if type(entry) is dict else None
        if type(inner) is not dict or type(inner.get("resourceType")) is not str:
            continue  # the Bundle's own walk reports it
        prefix = f"Bundle.entry[{n}].resource"
        for issue in validator.validate(inner, required.get(inner["resourceType"])):
            issues.append(Issue(issue.severity, issue.code, issue.diagnostics,
                                _under(prefix, inner["resourceType"], issue.expression),
                                issue.message_id))
    return list(dict.fromkeys(issues))  # the Bundle walk already saw the base rules


def _under(prefix: str, type_name: str, expression: str | None) -> str:
    """Rewrite an entry resource's expression (`Patient.name[0]`) to be under `prefix`."""
    if expression is None or expression == type_name:
        return prefix
    if expression.startswith(type_name + "."):
        return prefix + expression[len(type_name):]
    return f"{prefix}.{expression}"


def locate(document: Any, places: dict[str, Location], expression: str | None) -> Location:
    """Return where `expression` points in the document, or its nearest existing parent."""
    pointer = to_pointer(document, expression)
    while pointer not in places and pointer:
        pointer = pointer.rsplit("/", 1)[0]
    return places.get(pointer, (1, 1))


def to_pointer(document: Any, expression: str | None) -> str:
    """Return the JSON pointer of the deepest element of `expression` present in
    `document` (`Patient.identifier[0].value` -> `/identifier/0/value`).

    Choice types (`deceased.ofType(boolean)`, `deceasedBoolean`), a primitive's extensions
    (`birthDate.extension[0]` -> `/_birthDate/extension/0`), `extension('url')` and
    `where(url = '...')` are followed; the walk stops at the first step it cannot follow.
    """
    steps = _steps(expression or "")
    if steps and steps[0].group("name") and type(document) is dict \
            and steps[0].group("name") == document.get("resourceType") \
            and steps[0].group("index") is None:
        steps = steps[1:]
    parts: list[str] = []
    node = document
    i = 0
    while i < len(steps):
        step = steps[i]
        name = step.group("name")
        if name is not None:
            choice = steps[i + 1].group("type") if i + 1 < len(steps) else None
            key = _key(node, name, choice)
            if key is None:
                break
            index = step.group("index")
            i += 2 if choice else 1
            if i < len(steps) and "_" + key in node and not _complex_at(node[key], index):
                key = "_" + key  # further steps go into a primitive's extensions
            node = node[key]
            parts.append(key)
        elif step.group("ext") is not None:
            if type(node) is not dict or type(node.get("extension")) is not list:
                break
            node = node["extension"]
            parts.append("extension")
            index = _url_index(node, step.group("ext"), step.group("ext_index"))
            i += 1
        elif step.group("where") is not None:
            index = _url_index(node, step.group("where"), step.group("where_index"))
            if index is None:
                break
            i += 1
        else:
            break  # a lone ofType(), or nothing we can follow
        if index is not None:
            if type(node) is list:
                if int(index) >= len(node):
                    break
                node = node[int(index)]
                parts.append(index)
            elif index != "0":
                break  # a single value is its own [0]
        elif type(node) is list and len(node) == 1 and i < len(steps):
            node = node[0]  # `name.family` on a one-item list means its item
            parts.append("0")
    # json-source-map does not escape ~ and / in keys; FHIR property names have neither
    return "".join("/" + part for part in parts)


def _steps(expression: str) -> list[re.Match[str]]:
    """Split `expression` at the dots outside quotes and parentheses; parse each step."""
    out: list[re.Match[str]] = []
    depth, quoted, start = 0, False, 0
    for pos, char in enumerate(expression + "."):
        if char == "'" and (pos == 0 or expression[pos - 1] != "\\"):
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "." and depth == 0:
            match = _STEP.fullmatch(expression[start:pos].strip())
            if match is None:
                break
            out.append(match)
            start = pos + 1
    return out


def _key(node: Any, name: str, choice: str | None) -> str | None:
    """The JSON property for FHIRPath `name` (with its `ofType` type, if any) in `node`."""
    if type(node) is not dict:
        return None
    if choice is not None:
        key = name + choice[0].upper() + choice[1:]
        return key if key in node or "_" + key in node else None
    if name in node:
        return name
    if "_" + name in node:
        return "_" + name
    return next((k for k in node if k.startswith(name) and k[len(name):len(name) + 1].isupper()),
                None)


def _complex_at(value: Any, index: str | None) -> bool:
    """True if the value (or its item `index`) is a JSON object that further steps enter."""
    if type(value) is list:
        position = int(index or 0)
        return position < len(value) and type(value[position]) is dict
    return type(value) is dict


def _url_index(items: Any, url: str, index: str | None) -> str | None:
    """The position in `items` of the `index`-th (default first) object with that url."""
    if type(items) is not list:
        return None
    url = url.replace("\\'", "'")
    matching = [n for n, item in enumerate(items) if type(item) is dict and item.get("url") == url]
    wanted = int(index or 0)
    return str(matching[wanted]) if wanted < len(matching) else None


def _source_map(text: str) -> dict[str, Location]:
    """Map each JSON pointer to where its key (or, for array items and the root, its value)
    starts; empty if the library cannot map the text."""
    try:
        entries = calculate(text)
    except Exception:
        return {}
    out: dict[str, Location] = {}
    for pointer, entry in entries.items():
        start = entry.key_start or entry.value_start
        out[pointer] = (start.line + 1, start.column + 1)
    return out


def _root(text: str) -> Location:
    return _source_map(text).get("", (1, 1))


def _issue(file: str, where: Location, severity: str, message_id: str, message: str,
           expression: str | None, rules: list[Suppression]) -> FileIssue:
    covering = find(rules, message_id, expression)
    return FileIssue(file, where[0], where[1], severity, message_id, message, expression,
                     covering.justification if covering else None)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
