"""The one shape of query the store must serve from an index, and which keys it indexes.

A search is answered in two steps: the store finds candidates through one `KeyLookup` on the
*driver* keys of current resources (an index range scan on any MongoDB-compatible server, even
one with a weak planner), then `server.search` evaluates every criterion in Python on each
candidate's full index document.

Only driver keys go into the database index, because every index entry costs a write (about
20 µs each on SecantusDB; a Patient has ~100 search keys). `driver_form` maps each search key
to its driver (or to None: not indexed); it is applied alike to a resource's keys when it is
indexed and to a query's keys when a lookup is chosen, so a lookup on drivers always finds a
superset of the matches. `_id` and (but in the audit trail) `_lastUpdated`, which every
resource has, are not drivers: the store keeps both as fields it indexes anyway (the `Type/id`
key, the (t, ts) index), and their lookups (`ids`, `since`/`before`) go there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from server.search.normalise import normalise

HIGH = "\U0010ffff"
EMPTY: Mapping[str, str] = {}
BOOLEANS = ("|true", "|false")


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """Match resources with a driver key among `keys`, or any driver key in [lo, hi), or an
    id among `ids`, or last updated in [`since`, `before`).

    Exactly one form is used: `keys` non-empty; `lo` and `hi` both set; `ids` non-empty; or
    `since` and/or `before` set.
    """

    keys: tuple[str, ...] = ()
    lo: str | None = None
    hi: str | None = None
    ids: tuple[str, ...] = ()
    since: datetime | None = None
    before: datetime | None = None

    @classmethod
    def prefix(cls, prefix: str) -> KeyLookup:
        """Return the range lookup matching every key that starts with `prefix`."""
        return cls(lo=prefix, hi=prefix + HIGH)


def driver_form(key: str, rename: Mapping[str, str] = EMPTY) -> str | None:
    """Return the driver key standing for search key `key`, or None if it has none.

    - presence (`?p`), `_id` (the store's `Type/id` key), `:text`, `:of-type`, boolean and
      date upper-bound (`p<hi`) keys: none;
    - string exact keys `p=|Raw` → `p|raw` (the normalised key, which exists anyway);
    - system-qualified tokens `p|sys|code`, `p|!|code` → `p||code` (any system);
    - everything else (`p||code`, `p|norm`, `p|Type/id`, `p|uri`, `p>lo`): itself;
    and the parameter is renamed by `rename` (see `SearchParameterRegistry.driver_names`);
    a parameter renamed to "" is never driven (too unselective to be worth an index entry).
    """
    if key.startswith(("?", "_id|")) or ":text|" in key or ":of-type|" in key:
        return None
    param, bar, rest = key.partition("|")
    if not bar:
        if ">" not in param:
            return None  # date upper bounds `p<hi`
        name, _, bound = param.partition(">")
        driver = rename.get(name, name)
        return f"{driver}>{bound}" if driver else None
    if param.endswith("="):
        param, rest = param[:-1], normalise(rest)
    elif "|" in rest:
        rest = "|" + rest.rsplit("|", 1)[1]
        if rest in BOOLEANS:
            return None  # never selective
    base, colon, modifier = param.partition(":")
    driver = rename.get(param, rename.get(base, base) + colon + modifier)
    return f"{driver}|{rest}" if driver and not driver.startswith(":") else None


def drivers(keys: Iterable[str], rename: Mapping[str, str] = EMPTY) -> list[str]:
    """Return the sorted, unique driver keys of a resource's search keys."""
    found = set()
    for key in keys:
        if key[0] != "?":  # presence keys (a third of them) never drive
            driver = driver_form(key, rename)
            if driver is not None:
                found.add(driver)
    return sorted(found)


def driver_prefix(prefix: str, rename: Mapping[str, str] = EMPTY) -> str | None:
    """Return the driver prefix for a string prefix `p|text`, or None if it cannot drive.

    Every key starting with `prefix` then has a driver starting with the result.
    """
    if prefix.count("|") != 1:
        return None
    form = driver_form(prefix + "x", rename)
    return form[:-1] if form and form.endswith("x") and form.count("|") == 1 else None
