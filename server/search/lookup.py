"""The one shape of query the store must serve from an index.

A search is answered in two steps: the store finds candidates through one `KeyLookup` on the
`ix.k` keys of current resources (an index range scan on any MongoDB-compatible server, even one
with a weak planner), then `server.search` evaluates the remaining criteria on each candidate's
index document in Python. Keeping the store's part this small keeps it portable and explainable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """Match resources whose `ix.k` holds one of `keys`, or any key in the range [lo, hi).

    Exactly one of the two forms is used: `keys` non-empty, or `lo` and `hi` both set.
    """

    keys: tuple[str, ...] = ()
    lo: str | None = None
    hi: str | None = None

    @classmethod
    def prefix(cls, prefix: str) -> KeyLookup:
        """Return the range lookup matching every key that starts with `prefix`."""
        return cls(lo=prefix, hi=prefix + "\U0010ffff")
