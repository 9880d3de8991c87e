"""Fetching the twinning query's answer from a SPARQL endpoint (the Wikidata query service)."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from collections.abc import Callable
from importlib import metadata, resources
from typing import Any

import httpx
from citylinks.db.importer import ImportFailed

DEFAULT_ENDPOINT = "https://query.wikidata.org/sparql"
PROJECT_URL = "https://github.com/citylinks/citylinks"
# The service stops a query after 60 s; the answer (tens of megabytes) then streams.
DEFAULT_TIMEOUT = 120.0
# A 429's Retry-After is waited for once, if it is no longer than this.
MAX_RETRY_WAIT = 60.0
QUERY_RESOURCE = "docs/wikidata-twinnings.rq"


class FetchFailed(ImportFailed):
    """The service could not be asked, or did not answer with results."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


def twinning_query() -> str:
    """The query of docs/wikidata-twinnings.rq, shipped in the package."""
    return resources.files("citylinks").joinpath(QUERY_RESOURCE).read_text("utf-8")


def user_agent(contact: str | None = None) -> str:
    """Wikimedia's User-Agent policy: the product, its version, and how to reach its
    operator (the project's address, and the contact given in the settings if any)."""
    try:
        version = metadata.version("citylinks")
    except metadata.PackageNotFoundError:
        version = "unknown"
    reach = f"{PROJECT_URL}; {contact}" if contact else PROJECT_URL
    return f"citylinks/{version} ({reach}) httpx/{httpx.__version__}"


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait: Retry-After is a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _refusal(endpoint: str, response: httpx.Response) -> FetchFailed:
    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    body = _excerpt(response)
    hint = ""
    if "TimeoutException" in body:
        hint = (" The query ran past the service's time limit (60 s): try again later, when "
                "the service is less busy.")
    elif response.status_code == 403:
        hint = (" The service refuses clients whose User-Agent breaks its policy; set "
                "CITYLINKS_WIKIDATA_CONTACT to an address where you can be reached.")
    return FetchFailed(f"{endpoint} answered {status}: {body or '(no body)'}.{hint}")


def fetch_answer(endpoint: str = DEFAULT_ENDPOINT, *, timeout: float = DEFAULT_TIMEOUT,
                 contact: str | None = None, say: Callable[[str], None] = lambda _: None,
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    """The SPARQL JSON answer to the twinning query, decoded; FetchFailed says why not."""
    headers = {"Accept": "application/sparql-results+json", "User-Agent": user_agent(contact)}
    params = {"query": twinning_query()}
    limits = httpx.Timeout(timeout, connect=min(timeout, 15.0))
    with httpx.Client(timeout=limits, headers=headers, follow_redirects=True) as client:
        for attempt in (1, 2):
            try:
                response = client.get(endpoint, params=params)
            except httpx.TimeoutException:
                raise FetchFailed(f"{endpoint} did not answer within {timeout:g} s") from None
            except httpx.HTTPError as error:
                raise FetchFailed(f"cannot reach {endpoint}: {error}") from None
            if response.status_code == 429:
                wait = _retry_after(response.headers.get("Retry-After"))
                if attempt == 1 and wait is not None and wait <= MAX_RETRY_WAIT:
                    say(f"{endpoint} asks to wait {wait:g} s (HTTP 429, Retry-After); waiting "
                        "once")
                    sleep(wait)
                    continue
                after = f"; it asks to retry after {wait:g} s" if wait is not None else ""
                raise FetchFailed(f"{endpoint} is rate limiting this client (HTTP 429 Too Many "
                                  f"Requests{', again' if attempt == 2 else ''}){after}")
            if response.status_code != 200:
                raise _refusal(endpoint, response)
            break
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FetchFailed(f"{endpoint}'s answer is not valid JSON (cut short?): {error}") \
            from None
