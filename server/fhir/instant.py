"""FHIR instants: the server clock, and parsing `_since`-style parameters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime

from server.errors import Invalid

INSTANT = re.compile(
    r"(\d{4})(-(\d{2})(-(\d{2})(T(\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def now() -> datetime:
    """The current UTC time at millisecond precision (what MongoDB stores)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_instant(moment: datetime) -> str:
    """Return a FHIR instant, e.g. `2026-11-25T09:00:00.123Z`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(moment: datetime) -> str:
    """Return an RFC 7231 date for the Last-Modified header."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_instant(value: str, parameter: str) -> datetime:
    """Parse an instant or partial dateTime parameter (lower bound of its precision).

    Raises `Invalid` naming `parameter` when the value is not a FHIR dateTime.
    """
    match = INSTANT.fullmatch(value.strip())
    if match is None:
        raise Invalid(f"{parameter}: '{value}' is not a FHIR instant", expression=parameter)
    year, month, day = int(match[1]), int(match[3] or 1), int(match[5] or 1)
    hour, minute, second = int(match[7] or 0), int(match[8] or 0), int(match[10] or 0)
    micro = int(float(match[11]) * 1_000_000) if match[11] else 0
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        zone = match[12]
        if zone and zone != "Z":
            moment = datetime.fromisoformat(moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + zone)
    except ValueError as exc:
        raise Invalid(f"{parameter}: '{value}' is not a real date: {exc}",
                      expression=parameter) from exc
    return moment.astimezone(UTC)
