"""Splitting FHIRPath expression text without parsing it (for the fast paths that avoid a full
FHIRPath engine: search parameter expressions, common invariant shapes)."""

from __future__ import annotations


def split_top_level(text: str, separator: str) -> list[str]:
    """Return the stripped parts of `text` split at `separator` (one or more characters, e.g.
    `|`, `.`, ` and `) wherever it stands outside parentheses and quoted strings."""
    parts: list[str] = []
    depth, quoted, start, i = 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i].strip())
            start = i = i + len(separator)
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts
