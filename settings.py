"""One Settings object, read from the environment (CITYLINKS_*) and the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, get_type_hints

DEFAULT_DB_FILE = "citylinks.db"
# Settings whose default follows CITYLINKS_PRODUCTION: on unless in production.
_OFF_IN_PRODUCTION = ("graphiql", "introspection", "metrics")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingError(ValueError):
    """A setting's value that cannot be read; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    db_url: str = f"sqlite+aiosqlite:///{DEFAULT_DB_FILE}"
    # Production switches: GraphiQL and introspection can be turned off in one place.
    graphiql: bool = True
    introspection: bool = True
    cors_origins: tuple[str, ...] = ("*",)
    cache_max_age: int = 60
    # Answers of compiled reads kept in memory per data version (responsecache.py):
    # never older than the last committed write; bounded in bytes, per worker.
    response_cache: bool = True
    response_cache_bytes: int = 64 * 1024 * 1024
    load_seed: bool = True
    # The graph's index (path, suggestions) built at start, before the first request
    # needs it: 70-160 ms on the bundled world, which the explorer's first place view
    # would otherwise wait for.
    graph_index_at_start: bool = True
    migrate_on_start: bool = True
    # Seconds `citylinks serve` waits for an unreachable database at start, retrying
    # with backoff, before it gives up.
    db_wait: float = 60.0
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
    # Validation work, estimated before validating (schema/limits.py, validation_work):
    # each field 20, each pair of same-named fields in one selection set 1. Q1 of the
    # benchmark is 300, GraphiQL's introspection query about 2,000; at the limit
    # graphql-core validates in about 10-15 ms.
    max_validation_checks: int = 10_000
    # The whole HTTP request body (document and variables): larger bodies get 413.
    # 256 KiB carries a gateway's `_entities` batch of 2,000 representations of up to
    # 120 bytes each (a City by id is 45) beside a 16 KiB document.
    max_body_bytes: int = 262_144
    # Requests per client per window: per token, else per client address; 0 turns it
    # off. Shared between workers through Redis (redis_url) or PostgreSQL.
    rate_limit: int = 1_200
    rate_limit_window: int = 60
    # Addresses (or networks) of the proxies whose X-Forwarded-For names the client;
    # none by default, so a client cannot name its own address past the rate limit.
    trusted_proxies: tuple[str, ...] = ()
    # Slow clients (connections.py): seconds to send a request's headers, seconds
    # between two chunks of its body, and open connections per worker.
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 1_000
    # Registered persisted queries kept (apq.py); the least recently used go first.
    # At most this many times max_document_bytes: 160 MiB with the defaults.
    apq_max_queries: int = 10_000
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
    # Webhook receivers on loopback, private, link-local and other non-public
    # addresses are refused unless this is on (webhooks/urls.py).
    webhook_allow_private: bool = False
    # `citylinks import --format wikidata` without a file asks this SPARQL endpoint (a
    # mirror, or a replay in tests); seconds it may take; the operator's contact for the
    # User-Agent that Wikimedia's policy asks for (an e-mail address or a URL).
    wikidata_endpoint: str = "https://query.wikidata.org/sparql"
    wikidata_timeout: float = 120.0
    wikidata_contact: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Each field from CITYLINKS_<NAME> (the database from CITYLINKS_DB), read by
        its type; a value that cannot be read is refused with the variable's name."""
        env = os.environ
        production = _read("CITYLINKS_PRODUCTION", env.get("CITYLINKS_PRODUCTION"), bool)
        values: dict[str, Any] = {name: not production for name in _OFF_IN_PRODUCTION}
        types = get_type_hints(cls)
        for field in fields(cls):
            variable = ("CITYLINKS_DB" if field.name == "db_url"
                        else f"CITYLINKS_{field.name.upper()}")
            raw = env.get(variable)
            if raw is not None and raw.strip() != "":
                values[field.name] = _read(variable, raw, types[field.name])
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _read(variable: str, raw: str | None, kind: Any) -> Any:
    if raw is None or raw.strip() == "":
        return False if kind is bool else None
    value = raw.strip()
    if kind is bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise SettingError(f"{variable}={raw!r}: not a switch; use 1 or 0 (true/false, "
                           "yes/no, on/off)")
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise SettingError(f"{variable}={raw!r}: not {what}") from None
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value
