"""The canonical sector taxonomy and the country codes beyond ISO 3166-1 that real data uses."""

from __future__ import annotations

# slug -> display name. The contract's slugs come first; more may be added, none removed.
SECTORS: dict[str, str] = {
    "education": "Education",
    "culture": "Culture",
    "tourism": "Tourism",
    "trade": "Trade",
    "investment": "Investment",
    "ports-logistics": "Ports and logistics",
    "maritime": "Maritime",
    "information-technology": "Information technology",
    "semiconductors": "Semiconductors",
    "electronics": "Electronics",
    "agriculture": "Agriculture",
    "healthcare": "Healthcare",
    "environment": "Environment",
    "water": "Water and sanitation",
    "urban-planning": "Urban planning",
    "infrastructure": "Infrastructure",
    "human-resources": "Human resources and training",
    "transport": "Transport",
    "science-research": "Science and research",
    "sports": "Sports",
    "people-to-people": "People-to-people exchange",
    "industry": "Industry",
}

# User-assigned codes in wide use (Wikidata and the twinning data set use them);
# accepted deliberately so real data imports whole.
EXTRA_COUNTRIES: dict[str, str] = {
    "XK": "Kosovo",
    "XC": "Northern Cyprus",
    "XS": "Somaliland",
}
