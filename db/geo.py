"""Great-circle distances and the bounding boxes that prefilter radius searches in SQL."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def distance_between(
    a: tuple[float | None, float | None], b: tuple[float | None, float | None]
) -> float | None:
    if a[0] is None or a[1] is None or b[0] is None or b[1] is None:
        return None
    return round(haversine_km(a[0], a[1], b[0], b[1]), 1)


def bounding_box(
    lat: float, lon: float, radius_km: float
) -> tuple[float, float, list[tuple[float, float]]]:
    """(min_lat, max_lat, [(min_lon, max_lon), ...]): one or two longitude ranges.

    Near a pole or when the radius covers every longitude the box spans the full
    circle; across the antimeridian it splits in two.
    """
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    if min_lat <= -90.0 or max_lat >= 90.0:
        return min_lat, max_lat, [(-180.0, 180.0)]
    ratio = math.sin(radius_km / EARTH_RADIUS_KM) / math.cos(math.radians(lat))
    if ratio >= 1:
        return min_lat, max_lat, [(-180.0, 180.0)]
    dlon = math.degrees(math.asin(ratio))
    lo, hi = lon - dlon, lon + dlon
    if lo < -180:
        return min_lat, max_lat, [(lo + 360, 180.0), (-180.0, hi)]
    if hi > 180:
        return min_lat, max_lat, [(lo, 180.0), (-180.0, hi - 360)]
    return min_lat, max_lat, [(lo, hi)]
