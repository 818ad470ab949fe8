"""Delivery of an outbox: one thread POSTs due messages, oldest first, with
`Authorization: Bearer KEY`, and retries with a doubling delay until delivered.

- 2xx: delivered.
- No answer (connection refused, timeout), 408, 429 and 5xx: the receiver is down or busy. The
  message is retried after the policy's first delay, doubled per attempt up to its maximum
  (429/503 `Retry-After` seconds are honoured), and the worker waits as long before trying any
  other message. It is marked failed only when still undelivered `give_up_after` after queuing.
- Any other answer (a 4xx: bad key, a body refused): retried the same way, marked failed at the
  `max_refusals`-th refusal; other messages go on meanwhile.
A failed message stays in the outbox with its (redacted) last error."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic

import httpx

from vigil import __version__
from vigil.outbox.store import ClaimedMessage, M, OutboxBody, TableOutbox
from vigil.redact import MASK, redact

log = logging.getLogger(__name__)
RETRYABLE_STATUSES = {408, 429}  # 4xx answers that mean "later", not "never"
POLL_S = 1.0  # how soon a message queued by another process is noticed
LEASE_MARGIN_S = 30.0  # a claimed message is due again this long after the POST's timeout
PRUNE_EVERY_S = 3600.0
STOP_GRACE_S = 5.0  # at stop, what is due is still delivered for this long
RESPONSE_CHARS = 200  # of an error answer's body kept in last_error


@dataclass(frozen=True)
class SendResult:
    delivered: bool
    refused: bool = False  # the receiver answered, and not "later": a 4xx other than 408/429
    error: str = ""  # redacted, without the key
    retry_after_s: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float
    max_delay_s: float
    give_up_after: timedelta
    max_refusals: int

    def delay_s(self, attempts: int) -> float:
        """After the `attempts`-th failed attempt: first, 2x first, 4x first... up to the max."""
        return min(self.first_delay_s * 2.0 ** min(attempts - 1, 62), self.max_delay_s)

    def retry_at(self, claimed: ClaimedMessage[Any], result: SendResult, now: datetime) -> datetime | None:
        """When to try again, or None to give up (marked failed)."""
        if result.refused and claimed.refusals + 1 >= self.max_refusals:
            return None
        if now - claimed.created_at >= self.give_up_after:
            return None
        delay = self.delay_s(claimed.attempts)
        if result.retry_after_s is not None:
            delay = min(max(delay, result.retry_after_s), self.max_delay_s)
        return now + timedelta(seconds=delay)


class BearerClient:
    """POSTs messages with the bearer key; every error it reports is redacted and key-free."""

    def __init__(self, url: str, key: str, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s
        self._key = key
        # No redirects: the key must go to the configured host only.
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def post(self, message: OutboxBody) -> SendResult:
        headers = {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(message.message_id),
            "User-Agent": f"vigil/{__version__}",
        }
        try:
            answer = self._http.post(self.url, content=message.model_dump_json(), headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(False, error=self._clean(f"{type(exc).__name__}: {exc}"))
        if answer.is_success:
            return SendResult(True)
        text = " ".join(answer.text[:RESPONSE_CHARS].split())
        return SendResult(
            False,
            refused=answer.status_code < 500 and answer.status_code not in RETRYABLE_STATUSES,
            error=self._clean(f"HTTP {answer.status_code} {answer.reason_phrase}: {text}".rstrip(": ")),
            retry_after_s=_retry_after(answer),
        )

    def close(self) -> None:
        self._http.close()

    def _clean(self, text: str) -> str:
        """A receiver may echo the key back (an error page quoting the request): masked with the rest."""
        return redact(text.replace(self._key, MASK) if self._key else text)


class DeliveryWorker(Generic[M]):
    """One delivery thread; `step()` is one delivery, usable without the thread (tests, scripts).
    `close()` stops it, releasing its database when it has its own (`owns_db`)."""

    name = "outbox"  # of the thread and in the log

    def __init__(
        self,
        store: TableOutbox[M],
        client: BearerClient,
        policy: RetryPolicy,
        keep_delivered: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owns_db: bool = False,
    ) -> None:
        self.store, self.client, self.policy = store, client, policy
        self.owns_db = owns_db
        self.keep_delivered, self.clock = keep_delivered, clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._drain_until = 0.0
        self._thread: threading.Thread | None = None
        self._pruned_at = -PRUNE_EVERY_S

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something was queued: deliver it now rather than at the next poll."""
        self._wake.set()

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Delivers what is due for up to `grace_s` (unless the receiver is down), then stops;
        what is left stays queued for the next start."""
        self._drain_until = time.monotonic() + grace_s
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(grace_s + self.client.timeout_s + 1.0)
        self.client.close()

    def close(self) -> None:
        self.stop()
        if self.owns_db:
            self.store.db.dispose()

    def step(self) -> float:
        """Delivers the oldest due message; how long to wait before the next step (0: go on)."""
        claimed = self.store.claim(self.clock(), self.client.timeout_s + LEASE_MARGIN_S)
        if claimed is None:
            return POLL_S
        result = self.client.post(claimed.message)
        now = self.clock()
        if result.delivered:
            self.store.delivered(claimed.id, now)
            return 0.0
        retry_at = self.policy.retry_at(claimed, result, now)
        self.store.undelivered(claimed.id, result.error, result.refused, retry_at)
        self._log_failure(claimed, result, retry_at)
        if retry_at is None or result.refused:
            return 0.0  # this message's fault: the others may go
        return max(0.0, (retry_at - now).total_seconds())  # the receiver's: wait before any other

    def _run(self) -> None:
        while True:
            pause = self._step_safely()
            if self._stopping.is_set() and (pause > 0 or time.monotonic() >= self._drain_until):
                return
            if pause > 0:
                self._wake.wait(pause)
                self._wake.clear()

    def _step_safely(self) -> float:
        try:
            self._prune()
            return self.step()
        except Exception as exc:  # the database is away: keep the thread, try again later
            log.warning("%s: %s", self.name, redact(f"{type(exc).__name__}: {exc}"))
            return self.policy.first_delay_s

    def _prune(self) -> None:
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self.store.prune_delivered(self.clock() - self.keep_delivered)

    def _log_failure(self, claimed: ClaimedMessage[M], result: SendResult, retry_at: datetime | None) -> None:
        message = claimed.message
        what = f"{message.event} {message.message_id} (attempt {claimed.attempts})"
        if retry_at is None:
            log.error("%s: gave up on %s: %s", self.name, what, result.error)
        else:
            log.warning("%s: %s not delivered, retry at %s: %s", self.name, what,
                        retry_at.isoformat(timespec="seconds"), result.error)  # fmt: skip


def _retry_after(answer: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the HTTP-date form is rare from APIs: ignored)."""
    value = answer.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None
