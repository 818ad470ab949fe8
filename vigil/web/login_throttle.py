"""Login throttling: a per-IP attempt limit, and growing per-account delays after failed logins.

The per-account count lives in the database (`LoginFailureRepository`), so every server process
sharing it applies the same delays. It is kept per attempted *name*, existing or not, so the delays
do not tell which accounts exist. While a name is in its delay, attempts are refused before the
password is checked: guesses made during a delay are not tested at all."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from vigil.config import WebConfig
from vigil.errors import RefusedError
from vigil.store.login_failures import FailureCount, LoginFailureRepository
from vigil.web.ratelimit import RateLimiter

ThrottledBy = Literal["client", "account"]


class LoginThrottled(RefusedError):
    """Too many login attempts from one client, or on one user name; `retry_after_s` says when."""

    status = 429

    def __init__(self, by: ThrottledBy, retry_after_s: float) -> None:
        self.by = by
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(f"too many login attempts ({by}): try again in {self.retry_after_s} s")


@dataclass(frozen=True)
class DelayPolicy:
    """The first `free_failures` failures cost nothing; after `free_failures + k` consecutive failures
    the next attempt must wait `base_s * 2**k` seconds (at most `max_s`); a name quiet for `reset_s`
    starts again from zero."""

    free_failures: int
    base_s: float
    max_s: float
    reset_s: float

    @classmethod
    def of(cls, web: WebConfig) -> DelayPolicy:
        return cls(
            web.login_free_failures,
            web.login_delay_base_s,
            web.login_delay_max_s,
            web.login_failures_reset_h * 3600,
        )

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th consecutive failure before the next attempt."""
        beyond = failures - self.free_failures
        if beyond < 0:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** min(beyond, 64))  # 2**64 s is past any cap


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LoginThrottle:
    """Call `admit` before checking a password and `succeeded` after a right one.

    `admit` counts the attempt as a failure in advance: the count is raised atomically in the
    database, so of several attempts passing the same check at once (threads, processes) only the
    first is let through once delays apply; a right password then clears the count."""

    def __init__(
        self,
        failures: LoginFailureRepository,
        policy: DelayPolicy,
        per_client: RateLimiter,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.failures = failures
        self.policy = policy
        self.per_client = per_client
        self.clock = clock

    def admit(self, username: str, client: str) -> None:
        """Raises `LoginThrottled` when this client or this name must wait; else counts the attempt."""
        wait = self.per_client.acquire(client)
        if wait > 0:
            raise LoginThrottled("client", wait)
        now = self.clock()
        prior = self._prior(username, now)
        if prior is not None:
            remaining = self.policy.delay_after(prior.failures) - (now - prior.last_failed_at).total_seconds()
            if remaining > 0:
                raise LoginThrottled("account", remaining)
        expected = 1 if prior is None else prior.failures + 1
        count = self.failures.record(username, restart=prior is None, at=now)
        # Others counted since `_prior` took this opening (a restart always counts 1: at the worst,
        # attempts racing a name's very first failure of the period pass together).
        if count != expected and self.policy.delay_after(count - 1) > 0:
            raise LoginThrottled("account", self.policy.delay_after(count - 1))

    def succeeded(self, username: str) -> None:
        self.failures.clear(username)

    def _prior(self, username: str, now: datetime) -> FailureCount | None:
        """The name's failures of the current period (None: none, or quiet for `reset_s`)."""
        seen = self.failures.get(username)
        if seen is None or now - seen.last_failed_at >= timedelta(seconds=self.policy.reset_s):
            return None
        return seen
