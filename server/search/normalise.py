"""Value normalisation shared by indexing and query parsing.

Strings are compared case- and accent-insensitively; dates are closed intervals of UTC instants
written at a fixed width (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) so that string order is time order;
numbers carry the implicit precision range of their written form.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache

MIN_INSTANT = "0001-01-01T00:00:00.000000Z"
MAX_INSTANT = "9999-12-31T23:59:59.999999Z"
_SPACES = re.compile(r"\s+")
_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_ONE_US = timedelta(microseconds=1)


def normalise(value: str) -> str:
    """Return `value` lower-cased, accents stripped and whitespace collapsed (idempotent).

    `|` counts as whitespace: index keys use it as a separator (see `server.search.lookup`).
    """
    value = value.replace("|", " ")
    if value.isascii():
        return " ".join(value.lower().split())
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Casefolding can reintroduce decomposable characters, so normalise once more.
    stripped = unicodedata.normalize("NFKC", stripped).casefold()
    stripped = "".join(c for c in unicodedata.normalize("NFKD", stripped)
                       if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped).strip()


def fmt(moment: datetime) -> str:
    """Return the fixed-width UTC form of an aware datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _add_months(moment: datetime, months: int) -> datetime:
    month0 = moment.month - 1 + months
    return moment.replace(year=moment.year + month0 // 12, month=month0 % 12 + 1)


@lru_cache(maxsize=65536)  # a bulk upload repeats dates: birth dates, one lastUpdated per chunk
def date_interval(value: str) -> tuple[str, str] | None:
    """Return the closed interval [lo, hi] of UTC instants a FHIR date/dateTime/instant covers.

    Partial values expand to their whole period (`2020` is the whole year); values without a
    time zone are taken as UTC. Returns None when `value` is not a valid FHIR date.
    """
    m = _DATE.fullmatch(value.strip())
    if m is None:
        return None
    try:
        return _interval(m.groups())
    except OverflowError:
        return None
    except ValueError:
        return None


def _interval(groups: tuple[str | None, ...]) -> tuple[str, str]:
    year, month, day, hour, minute, second, frac, zone = groups
    tz: timezone = UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz_delta = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        tz = timezone(sign * tz_delta)
    if year is not None and int(year) == 0:
        raise ValueError("year 0")
    start = datetime(int(year or 1), int(month or 1), int(day or 1), int(hour or 0),
                     int(minute or 0), int(second or 0), tzinfo=tz)
    if frac:
        digits = frac[1:7]
        start = start.replace(microsecond=int(digits.ljust(6, "0")))
        end = start + timedelta(microseconds=10 ** (6 - len(digits)))
    elif second is not None:
        end = start + timedelta(seconds=1)
    elif minute is not None:
        end = start + timedelta(minutes=1)
    elif day is not None:
        end = start + timedelta(days=1)
    elif month is not None:
        if start.year == 9999 and start.month == 12:
            return fmt(start), MAX_INSTANT
        end = _add_months(start, 1)
    else:
        if start.year == 9999:
            return fmt(start), MAX_INSTANT
        end = start.replace(year=start.year + 1)
    return fmt(start), fmt(end - _ONE_US)


def number_range(text: str) -> tuple[float, float, float] | None:
    """Return (value, lo, hi) for a decimal search value: `100` covers [99.5, 100.5).

    Exponent forms (`1e2`) set the precision by their significant digits. None if not a number.
    """
    try:
        dec = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not dec.is_finite() or not text.strip() or text.strip()[0] not in "+-0123456789.":
        return None
    half = Decimal(5).scaleb(dec.as_tuple().exponent - 1)  # type: ignore[operator]
    return float(dec), float(dec - half), float(dec + half)
