"""Connecting to Ray (vigil/jobs/ray_pool.py `_init`): a Ray Client connection whose server died
while starting is tried again; other connection errors are not.

Ray Client's proxy starts one server process per client; on a loaded head one died while starting
in a clean-clone CI run ("Initialization failure from server", psutil.ZombieProcess in the
proxy). That failure cannot be caused on purpose with a real head, so these tests drive the retry
with a stand-in for the `ray` module: only its `init` is used."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.jobs import ray_pool


class _RayFailingFirst:
    """`ray.init` raising `error` on its first `failures` calls, then connecting."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error = failures, error
        self.calls: list[dict[str, Any]] = []

    def init(self, **options: Any) -> None:
        self.calls.append(options)
        if len(self.calls) <= self.failures:
            raise self.error


ABORTED = ConnectionAbortedError("Initialization failure from server:\npsutil.ZombieProcess")


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_pool, "CLIENT_INIT_PAUSE_S", 0.0)


def test_a_client_server_that_died_starting_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    ray = _RayFailingFirst(ray_pool.CLIENT_INIT_ATTEMPTS - 1, ABORTED)
    ray_pool._init(ray, {"address": "ray://head:10001", "namespace": "vigil"})
    assert len(ray.calls) == ray_pool.CLIENT_INIT_ATTEMPTS
    assert all(call == {"address": "ray://head:10001", "namespace": "vigil"} for call in ray.calls)
    retries = [r for r in caplog.records if "could not start this connection" in r.getMessage()]
    assert [r.levelname for r in retries] == ["WARNING"] * (ray_pool.CLIENT_INIT_ATTEMPTS - 1)


def test_the_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    ray = _RayFailingFirst(ray_pool.CLIENT_INIT_ATTEMPTS, ABORTED)
    with pytest.raises(ConnectionAbortedError, match="Initialization failure from server"):
        ray_pool._init(ray, {"address": "ray://head:10001"})
    assert len(ray.calls) == ray_pool.CLIENT_INIT_ATTEMPTS


@pytest.mark.parametrize(
    "error", [ConnectionRefusedError("refused"), ConnectionError("unreachable"), TimeoutError("slow")]
)
def test_other_connection_errors_are_not_tried_again(error: Exception) -> None:
    """Even on a Ray Client address, where the head's failure to start a connection is retried."""
    ray = _RayFailingFirst(1, error)
    with pytest.raises(type(error)):
        ray_pool._init(ray, {"address": "ray://head:10001"})
    assert len(ray.calls) == 1


def test_only_ray_client_addresses_are_tried_again() -> None:
    ray = _RayFailingFirst(1, ABORTED)
    with pytest.raises(ConnectionAbortedError):
        ray_pool._init(ray, {"address": "10.0.0.9:6379"})
    assert len(ray.calls) == 1
