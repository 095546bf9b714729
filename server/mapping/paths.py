"""Paths: the one way a mapping names a place, in a native record or in a FHIR resource.

Every reader turns its format into a JSON-like tree (dicts, lists, strings), so one small path
language addresses them all, to read and to write:

    Surname                                   a key (a CSV column, a JSON member)
    Pupils.PupilOnRoll[1].UPN                 nested keys, a list position
    segments[id=PID].fields[2][3=NHS][0]      the first list element whose `id` is PID; in a
                                              list of lists, the element whose item 3 is NHS
    identifier[system=https://fhir.nhs.uk/Id/nhs-number].value
    /Header.Source.LEA                        from the record, not the current item
    //Header.Source.LEA                       from the document root
    $this                                     the current item itself
    segments[id=RF1].fields[9][~]             an HL7 field's repetitions (one or many)

Reading is tolerant of the shapes real parsers give: a single value stands for a list of one
(xmltodict gives a dict for one `<Child>`, a list for two; HL7 gives a string for a field with
one component), and a step into a list without a position takes its first element. Writing
creates what is missing: a dict for a key, a list for a position or a match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Pointer = tuple[str | int, ...]


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    position: int


@dataclass(frozen=True)
class Match:
    key: str
    value: str


@dataclass(frozen=True)
class Repetitions:
    """`[~]`: the repetitions of an HL7 field, whether it was sent once or several times."""


Atom = Key | Index | Match | Repetitions


@dataclass(frozen=True)
class Path:
    """A parsed path; `root` says where it starts (native side only): "" the current item,
    "record" the record, "document" the document root."""

    text: str
    atoms: tuple[Atom, ...]
    root: str = ""


_STEP = re.compile(r"([^.\[\]]*)((?:\[[^\]]*\])*)")
_SELECTOR = re.compile(r"\[([^\]]*)\]")


class PathError(ValueError):
    """A path that does not follow the grammar above."""


@lru_cache(maxsize=4096)
def parse(text: str) -> Path:
    """Return the parsed `text`; raises PathError for a malformed path."""
    root = "document" if text.startswith("//") else "record" if text.startswith("/") else ""
    body = text.lstrip("/")
    if body == "$this":  # the current item itself (a repeated element holding just text)
        return Path(text, (), root)
    atoms: list[Atom] = []
    for step in _split(body):
        found = _STEP.fullmatch(step)
        if found is None or (not found.group(1) and not found.group(2)):
            raise PathError(f"bad path step {step!r} in {text!r}")
        if found.group(1):
            atoms.append(Key(found.group(1)))
        for selector in _SELECTOR.findall(found.group(2)):
            atoms.append(_selector(selector, text))
    return Path(text, tuple(atoms), root)


def _split(body: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, char in enumerate(body):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "." and depth == 0:
            yield body[start:i]
            start = i + 1
    if body:
        yield body[start:]


def _selector(text: str, path: str) -> Atom:
    if text == "~":
        return Repetitions()
    if text.isdigit():
        return Index(int(text))
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise PathError(f"bad selector [{text}] in {path!r}: use [n] or [key=value]")
    return Match(key, value)


def get(tree: Any, path: Path) -> tuple[Any, Pointer] | None:
    """Return the value at `path` and its pointer (keys and list positions), or None."""
    node: Any = tree
    pointer_: Pointer = ()
    single = False  # after [~] on a field sent once: the field is its only repetition
    for atom in path.atoms:
        if single:
            single = False
            if isinstance(atom, Index):  # [~][0] is the field itself; [~][1] is nothing
                if atom.position:
                    return None
                continue
        if isinstance(atom, Repetitions) and node not in (None, "") \
                and repetitions(node) is not node:
            single = True
            continue
        step = _step(node, atom)
        if step is None:
            return None
        node, where = step
        pointer_ += where
    return node, pointer_


def each(tree: Any, path: Path) -> list[tuple[Any, Pointer]]:
    """Return every item at `path`: the list found there item by item, a single value as one
    item, nothing for a missing or empty value."""
    found = get(tree, path)
    if found is None or found[0] in (None, "", [], {}):
        return []
    value, pointer = found
    if path.atoms and isinstance(path.atoms[-1], Repetitions) \
            and repetitions(value) is not value:
        return [(value, pointer)]  # a field sent once: one repetition, the field itself
    if isinstance(value, list):
        return [(item, (*pointer, i)) for i, item in enumerate(value)
                if item not in (None, "", [], {})]
    return [(value, pointer)]


def _step(node: Any, atom: Atom) -> tuple[Any, Pointer] | None:
    if isinstance(atom, Key):
        offset: Pointer = ()
        if isinstance(node, list):  # a step into a list takes its first element
            if not node:
                return None
            node, offset = node[0], (0,)
        if not isinstance(node, dict) or atom.name not in node:
            return None
        return node[atom.name], (*offset, atom.name)
    if isinstance(atom, Index):
        if isinstance(node, list):
            return (node[atom.position], (atom.position,)) if atom.position < len(node) else None
        return (node, ()) if atom.position == 0 and node is not None else None
    if isinstance(atom, Repetitions):
        return (repetitions(node), ()) if node not in (None, "") else None
    if isinstance(node, list) and not _is_one_repetition(node, atom):
        for i, item in enumerate(node):
            if _matches(item, atom):
                return item, (i,)
        return None
    return (node, ()) if _matches(node, atom) else None


def repetitions(field: Any) -> list[Any]:
    """An HL7 field as a list of repetitions: several are a list of lists; one is a string
    or a list of component strings."""
    if isinstance(field, list) and field and all(isinstance(r, list) for r in field):
        return field
    return [field]


def _is_one_repetition(node: list[Any], atom: Match) -> bool:
    # An HL7 field with one repetition is a list of component strings, not a list of lists.
    return atom.key.isdigit() and all(not isinstance(item, list) for item in node)


def _matches(item: Any, atom: Match) -> bool:
    if isinstance(item, dict):
        for name in atom.key.split("."):  # a dotted key looks inside: [code.text=x]
            item = item[0] if isinstance(item, list) and item else item
            if not isinstance(item, dict):
                return False
            item = item.get(name)
        return str(item) == atom.value
    if isinstance(item, list) and atom.key.isdigit():
        position = int(atom.key)
        return position < len(item) and item[position] == atom.value
    return False


def assign(tree: Any, path: Path, value: Any) -> Pointer:
    """Set `value` at `path` in `tree` (a dict or list), creating what is missing; return the
    pointer of the place written.

    Raises PathError when the tree holds something of another shape on the way.
    """
    node: Any = tree
    pointer: Pointer = ()
    atoms = path.atoms
    for i, atom in enumerate(atoms):
        last = i == len(atoms) - 1
        fresh: Any = value if last else _container_for(atoms[i + 1])
        node, where = _descend(node, atom, fresh, last, path)
        pointer += where
    return pointer


def _container_for(atom: Atom) -> Any:
    return {} if isinstance(atom, Key) else []


def _descend(node: Any, atom: Atom, fresh: Any, last: bool,
             path: Path) -> tuple[Any, Pointer]:
    if isinstance(atom, Key):
        offset: Pointer = ()
        if isinstance(node, list):
            if not node:
                node.append({})
            node, offset = node[0], (0,)
        if not isinstance(node, dict):
            raise PathError(f"{path.text}: expected an object before {atom.name!r}")
        if last or node.get(atom.name) is None:
            node[atom.name] = fresh
        return node[atom.name], (*offset, atom.name)
    if not isinstance(node, list):
        raise PathError(f"{path.text}: expected a list")
    if isinstance(atom, Repetitions):
        if last:  # the field becomes these repetitions
            node[:] = fresh if isinstance(fresh, list) else [fresh]
        return node, ()
    if isinstance(atom, Index):
        while len(node) <= atom.position:
            node.append(None)
        if last or node[atom.position] is None:
            node[atom.position] = fresh
        return node[atom.position], (atom.position,)
    for i, item in enumerate(node):
        if _matches(item, atom):
            if last:
                node[i] = fresh
            return node[i], (i,)
    made = fresh if last else _seeded(fresh, atom)
    node.append(made)
    return made, (len(node) - 1,)


def _seeded(fresh: Any, atom: Match) -> Any:
    # A new element found by [key=value] carries that key, so the next lookup finds it.
    if atom.key.isdigit():
        items: list[Any] = [None] * (int(atom.key) + 1)
        items[int(atom.key)] = atom.value
        return items
    made: Any = atom.value
    for name in reversed(atom.key.split(".")):
        made = {name: made}
    return made


def prune(value: Any) -> Any:
    """Return `value` without None, "", empty lists and empty objects, at any depth."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value
