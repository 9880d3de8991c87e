"""PartialDate: an ISO 8601 date at year, month or day precision, never padded to a day."""

from __future__ import annotations

from typing import NewType

import strawberry
from citylinks.db.partial_dates import PartialDateError, validate_partial_date


def _parse(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('PartialDate must be a string such as "2009", "2009-04" or "2014-04-15"')
    try:
        return validate_partial_date(value)
    except PartialDateError as error:
        raise ValueError(str(error)) from None


PartialDate = NewType("PartialDate", str)

PARTIAL_DATE = strawberry.scalar(
    name="PartialDate",
    description=(
        'An ISO 8601 date at year, month or day precision: "2005", "2009-04", "2014-04-15". '
        "Sources often give only a year or a month; citylinks never invents a day. "
        "As a filter bound, a partial date stands for its whole year or month."
    ),
    serialize=str,
    parse_value=_parse,
)

SCALAR_MAP = {PartialDate: PARTIAL_DATE}
