"""The external registry (issue 15 part 5, seed UPR_API_URL / UPR_API_KEY): every alert change and
decision is queued in its own transaction and POSTed with the bearer key by a delivery worker, to a
real HTTP receiver here, which is stopped and restarted mid-run; nothing is lost, nothing leaks."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from vigil.cli import app
from vigil.config import load_settings
from vigil.errors import ConfigError
from vigil.store.crops import CropStore
from vigil.store.database import Database, connect
from vigil.watchlist.alerts import AlertRepository
from vigil.watchlist.matching import Decision
from vigil.watchlist.outbox import POLL_S, OutboxWorker, RegistryClient, RetryPolicy
from vigil.watchlist.outbox_store import OutboxCounts, OutboxStore
from vigil.watchlist.repository import NewReference, WatchlistRepository
from vigil.watchlist.tables import WatchlistOutboxMessage as Outbox

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
KEY = "upr-Secret-Key-7f3a9"
CROP = np.full((64, 64, 3), 90, np.uint8)
MODEL = "dlib_resnet_v1"


# ------------------------------------------------------------------ a real receiver
@dataclass
class Received:
    authorization: str
    idempotency_key: str
    body: dict[str, object]


@dataclass
class Receiver:
    """A real HTTP server on localhost recording every POST; `answers` are served first (then 200)."""

    port: int = 0
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    echo_auth: bool = False  # an error page that quotes the request's Authorization header
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/alerts"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization", "")
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                receiver.requests.append(Received(auth, self.headers.get("Idempotency-Key", ""), body))
                receiver.times.append(time.monotonic())
                text = f"refused, you sent {auth}" if receiver.echo_auth and status >= 400 else "ok"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def ids(self) -> list[str]:
        return [str(r.body["message_id"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    if server._server is not None:
        server._server.shutdown()
        server._server.server_close()


# ------------------------------------------------------------------ the store side
@dataclass
class Clock:
    """The worker's clock, from the real now (messages are queued by the wall clock)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


POLICY = RetryPolicy(1.0, 8.0, timedelta(hours=1), max_refusals=3)
FAST = RetryPolicy(0.02, 0.2, timedelta(hours=1), max_refusals=3)


@pytest.fixture
def people(db: Database, tmp_path: Path) -> WatchlistRepository:
    return WatchlistRepository(db, tmp_path / "watchlist")


def alerts_on(db: Database, tmp_path: Path, outbox: bool = True) -> AlertRepository:
    return AlertRepository(db, CropStore(tmp_path / "watchlist"), outbox=outbox)


def enrol(people: WatchlistRepository, name: str) -> uuid.UUID:
    vector = np.random.default_rng(len(name)).normal(size=128).astype(np.float32)
    return people.add_person(
        name, [NewReference(vector / np.linalg.norm(vector), MODEL, CROP, 0.9, "photo")]
    ).id


def decision(person: uuid.UUID, track: int = 1, level: str = "probable", camera: str = "door") -> Decision:
    return Decision(camera, track, person, level, 0.5 if level == "probable" else 0.6, 0.5, 1)  # type: ignore[arg-type]


def worker_on(
    db: Database,
    url: str,
    policy: RetryPolicy = POLICY,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    key: str = KEY,
) -> OutboxWorker:
    return OutboxWorker(OutboxStore(db), RegistryClient(url, key, timeout_s=2.0), policy, clock=clock)


def deliver_due(worker: OutboxWorker) -> list[float]:
    """Steps until nothing is due or the receiver asks to wait; the pauses returned."""
    pauses = [worker.step()]
    while pauses[-1] == 0.0:
        pauses.append(worker.step())
    return pauses


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def queued_ids(db: Database) -> list[str]:
    with db.reader.connect() as conn:
        bodies: list[dict[str, object]] = list(
            conn.execute(select(Outbox.body).order_by(Outbox.id)).scalars()
        )
    return [str(body["message_id"]) for body in bodies]


# ------------------------------------------------------------------ (1) what arrives
def test_every_alert_change_and_decision_arrives_with_the_bearer_key(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts = alerts_on(db, tmp_path)
    ada = enrol(people, "Ada")
    raised = alerts.record(decision(ada), CROP, T0, cooldown_s=60).alert
    alerts.record(decision(ada), CROP, T0 + timedelta(seconds=1), cooldown_s=60)  # a later face: no message
    alerts.record(decision(ada, level="match"), CROP, T0 + timedelta(seconds=2), cooldown_s=60)
    alerts.record(decision(ada, track=7, level="match"), CROP, T0 + timedelta(seconds=30), cooldown_s=60)
    alerts.decide(raised.id, "confirmed", "olga", "it is her", T0 + timedelta(minutes=1))
    clock = Clock()
    worker = worker_on(db, receiver.url, clock=clock)

    assert deliver_due(worker) == [0.0] * 4 + [POLL_S]
    bodies = [r.body for r in receiver.requests]
    assert [b["event"] for b in bodies] == [
        "alert_raised",
        "alert_upgraded",
        "alert_repeat",
        "alert_confirmed",
    ]
    assert {r.authorization for r in receiver.requests} == {f"Bearer {KEY}"}
    assert [r.idempotency_key for r in receiver.requests] == receiver.ids() == queued_ids(db)
    first, last = bodies[0], bodies[-1]
    queued_at = datetime.fromisoformat(str(first["queued_at"]))
    assert str(first["queued_at"]).endswith("Z") and abs(queued_at - clock()) < timedelta(seconds=30)
    assert first | {"message_id": None, "queued_at": None} == {
        "version": 1, "message_id": None, "event": "alert_raised", "queued_at": None,
        "alert_id": str(raised.id), "person_id": str(ada), "person_name": "Ada", "camera": "door",
        "track_id": 1, "level": "probable", "score": 0.5, "faces": 1, "repeats": 0, "status": "open",
        "first_at": "2026-12-04T09:00:00Z", "last_at": "2026-12-04T09:00:00Z", "decided_by": None,
        "decided_at": None, "note": "",
    }  # fmt: skip
    assert (bodies[1]["level"], bodies[2]["repeats"]) == ("match", 1)
    assert (last["status"], last["decided_by"], last["note"], last["decided_at"]) == (
        "confirmed", "olga", "it is her", "2026-12-04T09:01:00Z",
    )  # fmt: skip
    assert OutboxStore(db).counts() == OutboxCounts(pending=0, delivered=4, failed=0)
    worker.client.close()


def test_without_a_registry_nothing_is_queued(
    db: Database, people: WatchlistRepository, tmp_path: Path
) -> None:
    alerts = alerts_on(db, tmp_path, outbox=False)
    alert = alerts.record(decision(enrol(people, "Ada")), CROP, T0, cooldown_s=60).alert
    alerts.decide(alert.id, "rejected", "olga", "", T0)
    assert OutboxStore(db).counts() == OutboxCounts()


def test_a_message_exists_only_with_its_change(
    db: Database, people: WatchlistRepository, tmp_path: Path
) -> None:
    """Enqueued in the change's transaction: a decision refused (already decided) queues nothing,
    and erasing a person erases their undelivered messages with their alerts."""
    alerts = alerts_on(db, tmp_path)
    ada, bob = enrol(people, "Ada"), enrol(people, "Bob")
    alert = alerts.record(decision(ada), CROP, T0, cooldown_s=60).alert
    alerts.record(decision(bob), CROP, T0, cooldown_s=60)
    alerts.decide(alert.id, "rejected", "olga", "", T0)
    with pytest.raises(Exception, match="already rejected"):
        alerts.decide(alert.id, "confirmed", "olga", "", T0)
    assert OutboxStore(db).counts() == OutboxCounts(pending=3)
    people.remove(ada)
    assert OutboxStore(db).counts() == OutboxCounts(pending=1)


def test_an_alert_nobody_decided_reaches_the_registry_as_expired(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts = alerts_on(db, tmp_path)
    ada = enrol(people, "Ada")
    stale = alerts.record(decision(ada), CROP, T0, cooldown_s=60).alert
    alerts.record(decision(ada, track=2), CROP, T0 + timedelta(hours=2), cooldown_s=60)  # still fresh
    assert alerts.expire(T0 + timedelta(hours=1)) == 1
    worker = worker_on(db, receiver.url)
    deliver_due(worker)
    bodies = [r.body for r in receiver.requests]
    assert [(b["event"], b["alert_id"], b["status"]) for b in bodies][-1] == (
        "alert_expired", str(stale.id), "expired",
    )  # fmt: skip
    assert [b["event"] for b in bodies].count("alert_expired") == 1
    worker.client.close()


# ------------------------------------------------------------------ (2) receiver down mid-run
def test_nothing_is_lost_while_the_receiver_is_down(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts = alerts_on(db, tmp_path)
    ada, bob = enrol(people, "Ada"), enrol(people, "Bob")
    worker = worker_on(db, receiver.url, FAST)
    worker.start()
    try:
        now = datetime.now(UTC)
        first = alerts.record(decision(ada), CROP, now, cooldown_s=60).alert
        wait_until(lambda: len(receiver.requests) == 1)
        receiver.stop()  # the registry goes away; alerts keep coming
        for n, person in enumerate([ada, bob, ada, bob]):
            alerts.record(decision(person, track=n + 2, level="match"), CROP, now, cooldown_s=60)
        alerts.decide(first.id, "confirmed", "olga", "", now)
        time.sleep(0.5)  # several failed attempts with growing delays
        assert OutboxStore(db).counts().pending == 5
        back = Receiver(port=receiver.port, requests=receiver.requests).start()  # on the same port
        wait_until(lambda: OutboxStore(db).counts() == OutboxCounts(delivered=6))
        back.stop()
    finally:
        worker.stop(grace_s=1.0)
    assert sorted(set(receiver.ids())) == sorted(queued_ids(db))  # all arrived; duplicates only possible
    arrivals: dict[str, list[str]] = {}
    for body in {str(r.body["message_id"]): r.body for r in receiver.requests}.values():
        arrivals.setdefault(str(body["alert_id"]), []).append(str(body["message_id"]))
    order = queued_ids(db)
    for ids in arrivals.values():  # each alert's messages in the order they were queued
        assert ids == sorted(ids, key=order.index)
    assert [b.body["event"] for b in receiver.requests if b.body["alert_id"] == str(first.id)][-1] == (
        "alert_confirmed"
    )


# ------------------------------------------------------------------ (3) Vigil restarts
def test_a_restarted_vigil_delivers_what_the_stopped_one_left(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    db = connect(db_url)
    alerts = alerts_on(db, tmp_path)
    ada = enrol(WatchlistRepository(db, tmp_path / "watchlist"), "Ada")
    down = Receiver().start()
    down.stop()  # a port nobody listens on
    worker = worker_on(db, down.url, FAST)
    worker.start()
    alert = alerts.record(decision(ada), CROP, datetime.now(UTC), cooldown_s=60).alert
    alerts.decide(alert.id, "rejected", "olga", "no", datetime.now(UTC))
    time.sleep(0.3)
    worker.stop(grace_s=0.5)
    db.dispose()
    assert down.requests == []

    again = connect(db_url)  # a new process: a new connection, repository and worker
    try:
        assert OutboxStore(again).counts() == OutboxCounts(pending=2)
        successor = worker_on(again, receiver.url, FAST)
        successor.start()
        wait_until(lambda: len(receiver.requests) == 2)
        successor.stop(grace_s=1.0)
        assert [r.body["event"] for r in receiver.requests] == ["alert_raised", "alert_rejected"]
        assert OutboxStore(again).counts() == OutboxCounts(delivered=2)
    finally:
        again.dispose()


def test_stop_flushes_what_is_due_within_the_grace_period(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts = alerts_on(db, tmp_path)
    worker = worker_on(db, receiver.url, FAST)
    worker.start()
    worker.stop(grace_s=0.0)  # stopped before the alerts: nothing sent
    ada = enrol(people, "Ada")
    for track in range(5):
        alerts.record(decision(ada, track=track, camera=f"cam{track}"), CROP, datetime.now(UTC), 60)
    late = worker_on(db, receiver.url, FAST)
    late._stopping.set()  # a worker asked to stop as it starts: it drains, then ends
    late._drain_until = time.monotonic() + 5.0
    late._run()
    assert len(receiver.requests) == 5


# ------------------------------------------------------------------ several workers, one database
def test_two_workers_never_send_one_message_twice(db_url: str, tmp_path: Path, receiver: Receiver) -> None:
    db = connect(db_url)
    alerts = alerts_on(db, tmp_path)
    people = WatchlistRepository(db, tmp_path / "watchlist")
    persons = [enrol(people, name) for name in ("Ada", "Bob", "Cy")]
    for n in range(30):
        alerts.record(decision(persons[n % 3], track=n, camera=f"cam{n}"), CROP, datetime.now(UTC), 60)
    other = connect(db_url)  # another process's connection
    workers = [worker_on(db, receiver.url, FAST), worker_on(other, receiver.url, FAST)]
    try:
        for worker in workers:
            worker.start()
        wait_until(lambda: OutboxStore(db).counts() == OutboxCounts(delivered=30))
        for worker in workers:
            worker.stop(grace_s=0.5)
        assert sorted(receiver.ids()) == sorted(queued_ids(db))  # each once, none twice
    finally:
        other.dispose()
        db.dispose()


# ------------------------------------------------------------------ (4) retries and giving up
def test_a_failing_receiver_is_retried_with_growing_delays(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts_on(db, tmp_path).record(decision(enrol(people, "Ada")), CROP, T0, cooldown_s=60)
    receiver.answers = [(500, {}), (503, {}), (502, {})]
    clock = Clock()
    worker = worker_on(db, receiver.url, clock=clock)
    pauses = []
    for _ in range(4):
        pauses.append(worker.step())  # the receiver's trouble: the worker waits as long
        assert worker.step() == POLL_S  # nothing is due before the delay
        clock.advance(pauses[-1])
    assert pauses == [1.0, 2.0, 4.0, 0.0]  # 1 s, doubled per attempt; then delivered
    assert len(set(receiver.ids())) == 1 and len(receiver.requests) == 4
    assert OutboxStore(db).counts() == OutboxCounts(delivered=1)
    worker.client.close()


def test_delays_stop_growing_at_the_maximum_and_retry_after_is_honoured() -> None:
    assert [POLICY.delay_s(n) for n in (1, 2, 3, 4, 5, 60, 200)] == [1, 2, 4, 8, 8, 8, 8]


def test_busy_receiver_retry_after(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts_on(db, tmp_path).record(decision(enrol(people, "Ada")), CROP, T0, cooldown_s=60)
    receiver.answers = [(429, {"Retry-After": "5"})]
    clock = Clock()
    worker = worker_on(db, receiver.url, clock=clock)
    assert worker.step() == 5.0  # 429 is "later", with the receiver's own delay
    clock.advance(5)
    assert worker.step() == 0.0
    worker.client.close()


def test_refused_messages_fail_after_max_refusals_and_stay_visible(
    db: Database, people: WatchlistRepository, tmp_path: Path, receiver: Receiver
) -> None:
    alerts = alerts_on(db, tmp_path)
    ada, bob = enrol(people, "Ada"), enrol(people, "Bob")
    alerts.record(decision(ada), CROP, T0, cooldown_s=60)
    alerts.record(decision(bob), CROP, T0, cooldown_s=60)
    receiver.answers = [(422, {})]
    clock = Clock()
    store = OutboxStore(db)
    worker = worker_on(db, receiver.url, clock=clock)
    assert worker.step() == 0.0  # refused: its own fault, the next message goes on
    assert worker.step() == 0.0 and store.counts() == OutboxCounts(pending=1, delivered=1)
    for _ in range(2):
        clock.advance(60)
        receiver.answers = [(400, {})]
        worker.step()
    assert store.counts() == OutboxCounts(delivered=1, failed=1)  # the 3rd refusal
    [(message, error)] = store.failed()
    assert message.person_name == "Ada" and error.startswith("HTTP 400 Bad Request")
    assert store.retry_failed(clock()) == 1 and store.counts().pending == 1  # after a fix
    worker.client.close()


def test_a_message_undelivered_past_the_age_limit_is_marked_failed(
    db: Database, people: WatchlistRepository, tmp_path: Path
) -> None:
    alerts_on(db, tmp_path).record(decision(enrol(people, "Ada")), CROP, T0, cooldown_s=60)
    down = Receiver().start()
    down.stop()
    clock = Clock()
    worker = worker_on(db, down.url, clock=clock)
    assert worker.step() == 1.0
    clock.advance(3600)  # POLICY gives up after an hour
    worker.step()
    assert OutboxStore(db).counts() == OutboxCounts(failed=1)
    assert "ConnectError" in OutboxStore(db).failed()[0][1]
    worker.client.close()


# ------------------------------------------------------------------ (5) the key stays secret
def test_the_key_never_appears_in_logs_errors_or_settings(
    db: Database,
    people: WatchlistRepository,
    tmp_path: Path,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vigil.redact import install_log_redaction

    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    alerts_on(db, tmp_path).record(decision(enrol(people, "Ada")), CROP, T0, cooldown_s=60)
    receiver.echo_auth = True
    receiver.answers = [(401, {}), (401, {}), (401, {})]
    url = receiver.url + f"?api_key={KEY}"  # a key in the URL too
    clock = Clock()
    worker = worker_on(db, url, clock=clock)
    for _ in range(3):
        worker.step()
        clock.advance(60)
    [(_, error)] = OutboxStore(db).failed()
    assert receiver.requests[0].authorization == f"Bearer {KEY}"  # it was sent...
    assert "HTTP 401" in error and "refused, you sent Bearer ***" in error
    assert "gave up" in caplog.text
    assert KEY not in error and KEY not in caplog.text  # ...and never written anywhere
    worker.client.close()

    monkeypatch.setenv("UPR_API_URL", receiver.url)
    monkeypatch.setenv("UPR_API_KEY", KEY)
    shown = CliRunner().invoke(app, ["config"])
    assert shown.exit_code == 0 and receiver.url in shown.output and KEY not in shown.output


def test_seed_names_configure_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPR_API_URL", "http://localhost:8000/api")
    monkeypatch.setenv("UPR_API_KEY", KEY)
    config = load_settings(None).watchlist
    assert config.upr_api_url == "http://localhost:8000/api"
    assert config.upr_api_key is not None and config.upr_api_key.get_secret_value() == KEY
    monkeypatch.setenv("UPR_API_KEY", "")
    with pytest.raises(ConfigError, match="upr_api_key"):
        load_settings(None)
    monkeypatch.setenv("UPR_API_KEY", KEY)
    monkeypatch.setenv("UPR_API_URL", f"ftp://user:{KEY}@host/")
    with pytest.raises(ConfigError, match="http:// or https://") as refused:
        load_settings(None)
    assert KEY not in str(refused.value)


# ------------------------------------------------------------------ wiring: vigil serve, vigil watch
def test_vigil_serve_sends_alerts_and_api_decisions_and_counts_them_on_metrics(
    tmp_path: Path, receiver: Receiver
) -> None:
    from fastapi.testclient import TestClient

    from tests.web_util import bearer, ctx_of, make_app

    app = make_app(tmp_path, watchlist={"upr_api_url": receiver.url, "upr_api_key": KEY})
    with TestClient(app) as client:
        host, db = ctx_of(app).watchlist, ctx_of(app).store.db
        ada = enrol(host.people, "Ada")
        alert = host.alerts.record(
            decision(ada), CROP, datetime.now(UTC), cooldown_s=60
        ).alert  # as the monitor
        url, body = f"/api/alerts/{alert.id}/decision", {"decision": "confirmed", "note": "yes"}
        assert client.post(url, json=body, headers=bearer(app, "operator")).status_code == 200
        wait_until(lambda: OutboxStore(db).counts() == OutboxCounts(delivered=2))
        metrics = client.get("/metrics", headers=bearer(app, "viewer")).text
    assert [r.body["event"] for r in receiver.requests] == ["alert_raised", "alert_confirmed"]
    assert (receiver.requests[1].body["decided_by"], receiver.requests[1].body["note"]) == (
        "operator-user",
        "yes",
    )
    assert 'vigil_registry_outbox_messages{status="delivered"} 2.0' in metrics
    assert 'vigil_registry_outbox_messages{status="pending"} 0.0' in metrics
    assert KEY not in metrics


def test_vigil_watch_posts_the_clip_alerts_to_the_registry(tmp_path: Path, receiver: Receiver) -> None:
    """Seed 004 headless with its registry: `vigil watch` on the clip with UPR_API_URL/UPR_API_KEY
    set; the enrolled person's alert reaches the receiver before `vigil watch` returns."""
    from tests.conftest import SHARED

    people = SHARED / "media" / "faces" / "people" / "lin_manuel_miranda"
    clip = SHARED / "media" / "video" / "hamilton_640x360.mp4"
    if not clip.exists():
        pytest.skip("shared media missing")
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(SHARED), "COLUMNS": "200",
        "UPR_API_URL": receiver.url, "UPR_API_KEY": KEY,
    }  # fmt: skip
    runner = CliRunner()
    added = runner.invoke(app, ["watchlist", "add", "lin", *map(str, people.iterdir())], env=env)
    assert added.exit_code == 0, added.stderr
    result = runner.invoke(app, ["watch", str(clip), "--no-realtime"], env=env)
    assert result.exit_code == 0, result.stderr
    assert receiver.requests, "no alert reached the registry"
    assert {r.body["person_name"] for r in receiver.requests} == {"lin"}
    assert receiver.requests[0].body["event"] == "alert_raised"
    assert {r.authorization for r in receiver.requests} == {f"Bearer {KEY}"}
    db = connect(f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    try:  # flushed at the end: nothing left pending, each queued message received
        assert OutboxStore(db).counts().pending == 0
        assert sorted(set(receiver.ids())) == sorted(queued_ids(db))
    finally:
        db.dispose()
    assert KEY not in result.output + result.stderr


def test_vigil_watchlist_outbox_shows_failures_and_queues_them_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    db = connect(url)
    try:
        alerts_on(db, tmp_path).record(
            decision(enrol(WatchlistRepository(db, tmp_path / "w"), "Ada")), CROP, T0, 60
        )
        receiver.answers = [(403, {})] * 3  # a wrong key, say
        clock = Clock()
        worker = worker_on(db, receiver.url, clock=clock)
        for _ in range(3):
            worker.step()
            clock.advance(60)
        shown = CliRunner().invoke(app, ["watchlist", "outbox", "--db", url], env={"COLUMNS": "250"})
        assert shown.exit_code == 0, shown.stderr
        assert "pending 0, delivered 0, failed 1" in shown.stdout
        assert (
            "alert_raised" in shown.stdout and "Ada" in shown.stdout and "HTTP 403 Forbidden" in shown.stdout
        )
        again = CliRunner().invoke(app, ["watchlist", "outbox", "--db", url, "--retry-failed", "--json"])
        assert again.exit_code == 0 and "1 failed message(s) queued again" in again.stderr
        assert json.loads(again.stdout) | {"failed_messages": None} == {
            "pending": 1, "delivered": 0, "failed": 0, "failed_messages": None,
        }  # fmt: skip
        assert worker.step() == 0.0 and OutboxStore(db).counts() == OutboxCounts(delivered=1)
        worker.client.close()
    finally:
        db.dispose()
