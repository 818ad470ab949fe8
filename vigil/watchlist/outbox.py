"""Delivery of the registry outbox: one thread POSTs due messages, oldest first, to UPR_API_URL with
`Authorization: Bearer UPR_API_KEY`, and retries with a doubling delay until delivered.

- 2xx: delivered.
- No answer (connection refused, timeout), 408, 429 and 5xx: the receiver is down or busy. The
  message is retried after `upr_retry_backoff_s`, doubled per attempt up to `upr_max_backoff_s`
  (429/503 `Retry-After` seconds are honoured), and the worker waits as long before trying any
  other message. It is marked failed only when still undelivered `upr_give_up_after_h` after queuing.
- Any other answer (a 4xx: bad key, a body refused): retried the same way, marked failed at the
  `upr_max_refusals`-th refusal; other messages go on meanwhile.
A failed message stays in the outbox with its (redacted) last error, counted in the metrics.
The delivery itself is `vigil.outbox.delivery`, shared with the activity reports.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from vigil.config import VigilSettings
from vigil.live.events import PipelineEvent
from vigil.outbox.delivery import POLL_S, BearerClient, DeliveryWorker, RetryPolicy, SendResult
from vigil.redact import redact
from vigil.store.database import Database, connect
from vigil.watchlist.config import WatchlistConfig
from vigil.watchlist.monitor import AlertEvent
from vigil.watchlist.outbox_store import OutboxStore
from vigil.watchlist.registry_message import RegistryMessage

__all__ = ["POLL_S", "OutboxWorker", "RegistryClient", "RetryPolicy", "SendResult", "retry_policy"]
log = logging.getLogger(__name__)
RegistryClient = BearerClient


def retry_policy(config: WatchlistConfig) -> RetryPolicy:
    return RetryPolicy(
        config.upr_retry_backoff_s,
        max(config.upr_max_backoff_s, config.upr_retry_backoff_s),
        timedelta(hours=config.upr_give_up_after_h),
        config.upr_max_refusals,
    )


class OutboxWorker(DeliveryWorker[RegistryMessage]):
    """The registry's delivery thread (`vigil.outbox.delivery`), also an event sink: an alert
    event of the live monitor wakes it (no wait for the next poll)."""

    name = "registry outbox"

    def handle(self, event: PipelineEvent) -> None:
        if isinstance(event, AlertEvent):  # its message was queued with it
            self.wake()


def start_outbox_worker(settings: VigilSettings, db: Database, owns_db: bool = False) -> OutboxWorker | None:
    """The delivery thread over `db`, started; None when no registry (UPR_API_URL) is configured."""
    config = settings.watchlist
    if config.upr_api_url is None or config.upr_api_key is None:
        return None
    client = BearerClient(config.upr_api_url, config.upr_api_key.get_secret_value(), config.upr_timeout_s)
    keep = timedelta(days=config.upr_keep_delivered_days)
    worker = OutboxWorker(OutboxStore(db), client, retry_policy(config), keep, owns_db=owns_db)
    worker.start()
    log.info("registry outbox: delivering to %s", redact(config.upr_api_url))
    return worker


def registry_delivery(settings: VigilSettings, url: str | None = None) -> list[OutboxWorker]:
    """`vigil watch`'s delivery worker on its own connection, as a sink list: empty without a registry."""
    if not settings.watchlist.upr_enabled:
        return []
    db = connect(url or settings.resolved_db_url)
    worker = start_outbox_worker(settings, db, owns_db=True)
    return [worker] if worker is not None else []
