"""Partial dates: ISO 8601 at year, month or day precision, and the period each stands for."""

from __future__ import annotations

import calendar
import datetime as dt
import re

_PATTERN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class PartialDateError(ValueError):
    pass


def parse_partial_date(value: str) -> tuple[dt.date, dt.date]:
    """Return the first and last day that "2009", "2009-04" or "2014-04-15" stands for."""
    if not isinstance(value, str):
        raise PartialDateError('a partial date is a string: "2009", "2009-04" or "2014-04-15"')
    match = _PATTERN.match(value)
    if match is None:
        raise PartialDateError(
            f"{value!r} is not a date at year, month or day precision "
            "(\"2009\", \"2009-04\" or \"2014-04-15\")"
        )
    year = int(match[1])
    if year < 1:
        raise PartialDateError(f"{value!r}: year 0000 does not exist")
    if match[2] is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    month = int(match[2])
    if not 1 <= month <= 12:
        raise PartialDateError(f"{value!r}: month must be 01 to 12")
    last_day = calendar.monthrange(year, month)[1]
    if match[3] is None:
        return dt.date(year, month, 1), dt.date(year, month, last_day)
    day = int(match[3])
    if not 1 <= day <= last_day:
        raise PartialDateError(f"{value!r}: day out of range for that month")
    date = dt.date(year, month, day)
    return date, date


def validate_partial_date(value: str) -> str:
    parse_partial_date(value)
    return value
