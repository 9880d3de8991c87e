"""One Settings object, read from the environment (CITYLINKS_*) and the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_DB_FILE = "citylinks.db"


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


# Read from CITYLINKS_<NAME>: CITYLINKS_MAX_DEPTH=20, CITYLINKS_RATE_LIMIT=0, ...
_INT_SETTINGS = ("max_depth", "max_cost", "max_aliases", "max_tokens", "max_document_bytes",
                 "max_body_bytes", "rate_limit", "rate_limit_window", "webhook_batch_size")
_FLOAT_SETTINGS = ("webhook_poll_interval", "webhook_timeout", "webhook_retry_base",
                   "webhook_retry_max", "webhook_give_up_after", "wikidata_timeout")


@dataclass(frozen=True)
class Settings:
    db_url: str = f"sqlite+aiosqlite:///{DEFAULT_DB_FILE}"
    # Production switches: GraphiQL and introspection can be turned off in one place.
    graphiql: bool = True
    introspection: bool = True
    cors_origins: tuple[str, ...] = ("*",)
    cache_max_age: int = 60
    load_seed: bool = True
    migrate_on_start: bool = True
    redis_url: str | None = None
    # Query limits (schema/limits.py); each refusal is QUERY_TOO_COMPLEX naming the limit.
    # Depth counts nested fields, leaf included: `{ sectors { slug } }` is 2. GraphiQL's
    # introspection query is 13 deep.
    max_depth: int = 15
    # Cost: each object field counts 1, and a connection multiplies its selection by
    # its `first`/`last` (20 when absent), as GitHub's node limit does. The explorer's
    # heaviest view costs about 7,500; 100 places with 100 partners each about 40,000.
    max_cost: int = 50_000
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_document_bytes: int = 16_384
    # The whole HTTP request body (document and variables): larger bodies get 413.
    max_body_bytes: int = 65_536
    # Requests per client per window: per token, else per client address; 0 turns it
    # off. Shared between workers through Redis (redis_url) or PostgreSQL.
    rate_limit: int = 1_200
    rate_limit_window: int = 60
    # Per request, one JSON line on the `citylinks.requests` logger; `GET /metrics`.
    request_log: bool = True
    metrics: bool = True
    # Webhooks (webhooks/delivery.py): seconds between looks for due deliveries; one
    # attempt's timeout; the first retry's delay, doubled per failure up to the cap;
    # and the age after which a failing delivery is given up (72 h).
    webhook_delivery: bool = True
    webhook_poll_interval: float = 1.0
    webhook_timeout: float = 10.0
    webhook_retry_base: float = 5.0
    webhook_retry_max: float = 3600.0
    webhook_give_up_after: float = 259_200.0
    webhook_batch_size: int = 20
    # `citylinks import --format wikidata` without a file asks this SPARQL endpoint (a
    # mirror, or a replay in tests); seconds it may take; the operator's contact for the
    # User-Agent that Wikimedia's policy asks for (an e-mail address or a URL).
    wikidata_endpoint: str = "https://query.wikidata.org/sparql"
    wikidata_timeout: float = 120.0
    wikidata_contact: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        env = os.environ
        # One switch for production: GraphiQL and introspection off unless asked for.
        production = _bool(env.get("CITYLINKS_PRODUCTION"), False)
        settings = cls(
            db_url=env.get("CITYLINKS_DB") or cls.db_url,
            graphiql=_bool(env.get("CITYLINKS_GRAPHIQL"), not production),
            introspection=_bool(env.get("CITYLINKS_INTROSPECTION"), not production),
            cors_origins=tuple(o.strip() for o in env.get("CITYLINKS_CORS_ORIGINS", "*").split(",")
                               if o.strip()),
            cache_max_age=int(env.get("CITYLINKS_CACHE_MAX_AGE", "60")),
            load_seed=_bool(env.get("CITYLINKS_LOAD_SEED"), True),
            migrate_on_start=_bool(env.get("CITYLINKS_MIGRATE_ON_START"), True),
            redis_url=env.get("CITYLINKS_REDIS_URL") or None,
            **{name: int(env[f"CITYLINKS_{name.upper()}"]) for name in _INT_SETTINGS
               if env.get(f"CITYLINKS_{name.upper()}")},
            request_log=_bool(env.get("CITYLINKS_REQUEST_LOG"), True),
            metrics=_bool(env.get("CITYLINKS_METRICS"), True),
            webhook_delivery=_bool(env.get("CITYLINKS_WEBHOOK_DELIVERY"), True),
            wikidata_endpoint=env.get("CITYLINKS_WIKIDATA_ENDPOINT") or cls.wikidata_endpoint,
            wikidata_contact=env.get("CITYLINKS_WIKIDATA_CONTACT") or None,
            **{name: float(env[f"CITYLINKS_{name.upper()}"]) for name in _FLOAT_SETTINGS
               if env.get(f"CITYLINKS_{name.upper()}")},
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
