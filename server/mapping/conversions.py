"""Value conversions a plain rule may name in `format`: each reads a native string into a FHIR
primitive and writes it back, so a rule that names one still runs in both directions.

    date:DD/MM/YYYY      UK dates (leading zeros optional on the way in) <-> FHIR date
    date:YYYY-MM-DD      ISO dates
    date:YYYYMMDD        HL7 DT
    datetime:DD/MM/YYYY HH:MM   UK local time without an offset <-> FHIR dateTime (Europe/London)
    datetime:ISO         ISO date-times, optional offset (UK local time when absent)
    datetime:HL7         HL7 TS: YYYYMMDD[HHMM[SS]][+ZZZZ]; a date alone stays a date
    boolean:Y/N          Y or N <-> true or false
    boolean              JSON true/false
    integer              JSON or text integers
    string               (the default) the text itself
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class ConversionError(ValueError):
    """A native value that does not fit the declared format."""


@dataclass(frozen=True)
class Conversion:
    to_fhir: Callable[[Any], Any]
    to_native: Callable[[Any], Any]


def _uk_date(text: Any) -> str:
    found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", str(text).strip())
    if not found:
        raise ConversionError(f"{text!r} is not a date in DD/MM/YYYY form")
    return _date(int(found.group(3)), int(found.group(2)), int(found.group(1)), text)


def _date(year: int, month: int, day: int, text: Any) -> str:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise ConversionError(f"{text!r} is not a real date") from None


def _iso_date(text: Any) -> str:
    found = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(text).strip())
    if not found:
        raise ConversionError(f"{text!r} is not a date in YYYY-MM-DD form")
    return _date(int(found.group(1)), int(found.group(2)), int(found.group(3)), text)


def _hl7_date(text: Any) -> str:
    found = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", str(text).strip())
    if not found:
        raise ConversionError(f"{text!r} is not a date in YYYYMMDD form")
    return _date(int(found.group(1)), int(found.group(2)), int(found.group(3)), text)


def _to_uk_date(value: Any) -> str:
    d = date.fromisoformat(str(value)[:10])
    return d.strftime("%d/%m/%Y")


def _to_hl7_date(value: Any) -> str:
    return str(value)[:10].replace("-", "")


def _local(moment: datetime) -> str:
    """UK local wall time -> ISO with its offset. A time the spring clock change skips does not
    exist and is refused; one the autumn change repeats is read as the first (BST) hour."""
    local = moment.replace(tzinfo=LONDON)
    if local.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) != moment:
        raise ConversionError(f"{moment:%d/%m/%Y %H:%M} does not exist in UK time (the clocks "
                              "went forward)")
    return local.isoformat()


def _uk_datetime(text: Any) -> str:
    found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})", str(text).strip())
    if not found:
        raise ConversionError(f"{text!r} is not a date-time in DD/MM/YYYY HH:MM form")
    day, month, year, hour, minute = (int(g) for g in found.groups())
    try:
        return _local(datetime(year, month, day, hour, minute))
    except ValueError:
        raise ConversionError(f"{text!r} is not a real date-time") from None


def _to_uk_datetime(value: Any) -> str:
    return _in_london(value).strftime("%d/%m/%Y %H:%M")


def _in_london(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.astimezone(LONDON)


def _iso_datetime(text: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ConversionError(f"{text!r} is not an ISO date-time") from None
    return _local(moment) if moment.tzinfo is None else moment.isoformat()


def _to_iso_datetime(value: Any) -> str:
    return _in_london(value).replace(tzinfo=None).isoformat(timespec="seconds")


_TS = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?(?:\.\d+)?)?([+-]\d{4})?")


def _hl7_ts(text: Any) -> str:
    found = _TS.fullmatch(str(text).strip())
    if not found:
        raise ConversionError(f"{text!r} is not an HL7 timestamp (YYYYMMDD[HHMM[SS]])")
    year, month, day, hour, minute, second, offset = found.groups()
    if hour is None:
        return _date(int(year), int(month), int(day), text)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0))
    except ValueError:
        raise ConversionError(f"{text!r} is not a real date-time") from None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        zone = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:]))
        return moment.isoformat() + f"{'+' if sign > 0 else '-'}{str(zone)[:-3].zfill(5)}"
    return _local(moment)


def _to_hl7_ts(value: Any) -> str:
    text = str(value)
    if len(text) <= 10:
        return _to_hl7_date(text)
    return _in_london(text).strftime("%Y%m%d%H%M%S")


def _yes_no(text: Any) -> bool:
    if text in ("Y", "N"):
        return str(text) == "Y"
    raise ConversionError(f"{text!r} is not Y or N")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value is True
    raise ConversionError(f"{value!r} is not true or false")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ConversionError(f"{value!r} is not an integer")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConversionError(f"{value!r} is not an integer") from None


def _string(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConversionError("expected a single value, found a structure")
    return str(value)


CONVERSIONS: dict[str, Conversion] = {
    "string": Conversion(_string, str),
    "date:DD/MM/YYYY": Conversion(_uk_date, _to_uk_date),
    "date:YYYY-MM-DD": Conversion(_iso_date, lambda v: str(v)[:10]),
    "date:YYYYMMDD": Conversion(_hl7_date, _to_hl7_date),
    "datetime:DD/MM/YYYY HH:MM": Conversion(_uk_datetime, _to_uk_datetime),
    "datetime:ISO": Conversion(_iso_datetime, _to_iso_datetime),
    "datetime:HL7": Conversion(_hl7_ts, _to_hl7_ts),
    "boolean:Y/N": Conversion(_yes_no, lambda v: "Y" if v else "N"),
    "boolean": Conversion(_boolean, bool),
    "integer": Conversion(_integer, int),
}
