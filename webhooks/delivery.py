"""The delivery loop: claims due outbox rows, signs and sends them, and schedules retries.

One loop runs in every server process (started by the app's lifespan). A
claim is a short transaction that picks due rows (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so concurrent workers take disjoint rows; SQLite's write lock
serialises claims) and pushes their next attempt one lease into the future:
while a worker sends, no other worker sees the row as due, and if the worker
dies mid-send the row falls due again when the lease ends. Every send is cut
off at the timeout, which is shorter than the lease, so two workers never send
one event at the same time; a crash can make one event arrive twice, one after
the other, under the same `webhook-id`.

Retries back off exponentially with jitter: the n-th failure waits
min(retry_max, retry_base * 2**(n-1)) seconds, the upper half of that chosen at
random so that receivers coming back are not hit by every worker in lockstep.
A delivery still failing `give_up_after` seconds after it was queued is marked
failed; `citylinks webhook redeliver` queues it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any

import httpx
from citylinks.db.engine import Database
from citylinks.db.models import Webhook, WebhookDelivery
from citylinks.webhooks.outbox import DELIVERED, FAILED, PENDING
from citylinks.webhooks.store import utc
from citylinks.webhooks.urls import RefusedTarget, pinned, redact, scrub
from sqlalchemy import select, update
from standardwebhooks import Webhook as Signer

log = logging.getLogger("citylinks.webhooks")

USER_AGENT = "citylinks-webhooks/1"
_ERROR_BODY_CHARS = 200


@dataclass(frozen=True)
class DeliveryPolicy:
    """How often, how long and how persistently deliveries are tried (Settings.webhook_*)."""

    poll_interval: float = 1.0
    timeout: float = 10.0
    retry_base: float = 5.0
    retry_max: float = 3600.0
    give_up_after: float = 72 * 3600.0
    batch_size: int = 20
    # Deliver to loopback, private and link-local addresses too (webhooks/urls.py).
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> DeliveryPolicy:
        return cls(poll_interval=settings.webhook_poll_interval,
                   timeout=settings.webhook_timeout, retry_base=settings.webhook_retry_base,
                   retry_max=settings.webhook_retry_max,
                   give_up_after=settings.webhook_give_up_after,
                   batch_size=settings.webhook_batch_size,
                   allow_private=settings.webhook_allow_private)

    @property
    def lease(self) -> dt.timedelta:
        """How long a claim keeps other workers off a row: past the send's timeout."""
        return dt.timedelta(seconds=2 * self.timeout + 1)

    def backoff(self, failures: int, rng: random.Random) -> float:
        delay = min(self.retry_max, self.retry_base * 2 ** max(0, failures - 1))
        return delay / 2 + rng.uniform(0, delay / 2)


@dataclass(frozen=True)
class Claimed:
    id: int
    url: str
    secret: str
    message_id: str
    payload: str
    attempts: int
    queued_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookDispatcher:
    """One per server process: `start()` in the lifespan, `stop()` at shutdown."""

    def __init__(self, database: Database, policy: DeliveryPolicy | None = None) -> None:
        self.database = database
        self.policy = policy or DeliveryPolicy()
        self._rng = random.Random()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.policy.timeout, follow_redirects=False,
            headers={"user-agent": USER_AGENT},
            limits=httpx.Limits(max_connections=self.policy.batch_size))
        self._task = asyncio.create_task(self._loop(), name="citylinks-webhooks")

    async def stop(self) -> None:
        """Deliveries cut short here stay claimed until their lease ends, then go again."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _loop(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:  # the database may be away for a while: keep polling
                log.warning("webhook delivery round failed", exc_info=True)
                sent = 0
            if sent < self.policy.batch_size:  # a full batch: more may be due at once
                await asyncio.sleep(self.policy.poll_interval)

    async def run_once(self) -> int:
        """Claim the due deliveries (at most a batch) and send them; how many were sent."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = _now()
        due = (WebhookDelivery.status == PENDING) & (WebhookDelivery.next_attempt_at <= now)
        # A plain read first: an idle loop never takes SQLite's write lock.
        async with self.database.read() as conn:
            if (await conn.execute(select(WebhookDelivery.id).where(due).limit(1))).first() is None:
                return []
        async with self.database.write() as session:
            rows = (await session.execute(
                select(WebhookDelivery.id, Webhook.url, Webhook.secret,
                       WebhookDelivery.message_id, WebhookDelivery.payload,
                       WebhookDelivery.attempts, WebhookDelivery.queued_at)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(due)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(self.policy.batch_size)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )).all()
            if rows:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + self.policy.lease)
                    .execution_options(synchronize_session=False))
        return [Claimed(r.id, r.url, r.secret, r.message_id, r.payload, r.attempts,
                        utc(r.queued_at) or now) for r in rows]

    async def _deliver(self, item: Claimed) -> None:
        status, error = await self._send(item)
        try:
            await self._record(item, status, error)
        except Exception:  # the lease runs out and the event goes again: at least once
            log.warning("could not record webhook delivery %s", item.id, exc_info=True)

    async def _send(self, item: Claimed) -> tuple[int | None, str | None]:
        assert self._client is not None
        # Signed at each attempt: receivers refuse a timestamp more than minutes old.
        at = _now().replace(microsecond=0)
        headers = {
            "content-type": "application/json",
            "webhook-id": item.message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Signer(item.secret).sign(item.message_id, at, item.payload),
        }
        try:
            async with asyncio.timeout(self.policy.timeout):
                # Checked after DNS, and sent to the very address checked.
                url, host, extensions = await pinned(item.url, self.policy.allow_private)
                headers.update(host)
                async with self._client.stream("POST", url, content=item.payload.encode(),
                                               headers=headers,
                                               extensions=extensions) as response:
                    # Read (a short answer whole) so that the connection can be reused.
                    text = await _start_of(response)
                    if 200 <= response.status_code < 300:
                        return response.status_code, None
                    return response.status_code, f"HTTP {response.status_code}: {text}".strip()
        except TimeoutError:
            return None, f"no answer within {self.policy.timeout:g} s"
        except RefusedTarget as refusal:
            return None, str(refusal)
        except httpx.HTTPError as exc:
            return None, scrub(f"{type(exc).__name__}: {exc}", item.url)[:500]

    async def _record(self, item: Claimed, status: int | None, error: str | None) -> None:
        now = _now()
        values: dict[str, Any] = {
            "attempts": WebhookDelivery.attempts + 1, "last_attempt_at": now,
            "last_status_code": status, "last_error": error[:500] if error else None,
        }
        if error is None:
            values.update(status=DELIVERED, delivered_at=now)
        else:
            retry_at = now + dt.timedelta(
                seconds=self.policy.backoff(item.attempts + 1, self._rng))
            if (retry_at - item.queued_at).total_seconds() > self.policy.give_up_after:
                values.update(status=FAILED)
                log.warning("webhook delivery %s to %s failed for good: %s",
                            item.id, redact(item.url), error)
            else:
                values.update(next_attempt_at=retry_at)
                log.info("webhook delivery %s to %s failed (%s); retrying at %s",
                         item.id, redact(item.url), error, retry_at.isoformat())
        async with self.database.write() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == item.id, WebhookDelivery.status == PENDING)
                .values(**values).execution_options(synchronize_session=False))


async def _start_of(response: httpx.Response) -> str:
    """The first characters of an answer, for the delivery log."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _ERROR_BODY_CHARS * 4:
            break
    return b"".join(chunks).decode("utf-8", "replace")[:_ERROR_BODY_CHARS].replace("\n", " ")
