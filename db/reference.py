"""Reference data every store has: ISO countries, the sector taxonomy and the store state row."""

from __future__ import annotations

import pycountry
from citylinks.db.models import Country, Sector, StoreState
from citylinks.db.vocabulary import EXTRA_COUNTRIES, SECTORS
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


def known_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> common English name, from pycountry, plus EXTRA_COUNTRIES."""
    names = {
        country.alpha_2: getattr(country, "common_name", None) or country.name
        for country in pycountry.countries
    }
    names.update(EXTRA_COUNTRIES)
    return names


async def ensure_reference_data(session: AsyncSession) -> None:
    """Insert what is missing; idempotent, so it runs on every start."""
    have_countries = set((await session.scalars(select(Country.code))).all())
    session.add_all(
        Country(code=code, name=name)
        for code, name in sorted(known_countries().items())
        if code not in have_countries
    )
    have_sectors = set((await session.scalars(select(Sector.slug))).all())
    session.add_all(
        Sector(slug=slug, name=name) for slug, name in SECTORS.items() if slug not in have_sectors
    )
    if await session.get(StoreState, 1) is None:
        session.add(StoreState(id=1, data_version=0))
    await session.flush()
