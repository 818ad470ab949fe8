"""Recent errors: a warning repeated on every loop of a file must not push real errors out
(issue 14, defect 9)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web_util import bearer, make_app
from vigil.web.errorlog import RecentErrors


@pytest.fixture
def recent() -> Iterator[RecentErrors]:
    handler = RecentErrors(size=200)
    logger = logging.getLogger("vigil.test.errorlog")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_repeats_collapse_into_one_counted_entry(recent: RecentErrors) -> None:
    log = logging.getLogger("vigil.test.errorlog")
    log.error("camera cam-x failed: connection refused")
    for _ in range(500):
        log.warning("%s: skipped a corrupt packet: %s", "loop.mp4", "Invalid data found")
    lines = recent.lines()
    assert [(line.message, line.count) for line in lines] == [
        ("loop.mp4: skipped a corrupt packet: Invalid data found", 500),
        ("camera cam-x failed: connection refused", 1),
    ]
    repeated = lines[0]
    assert repeated.first_at is not None and repeated.first_at <= repeated.at


def test_distinct_lines_still_roll_over_oldest_first() -> None:
    recent_small = RecentErrors(size=3)
    log = logging.getLogger("vigil.test.errorlog")
    log.addHandler(recent_small)
    try:
        for n in range(5):
            log.warning("warning %d", n)
        log.warning("warning 2")  # a repeat counts and moves to the newest end
    finally:
        log.removeHandler(recent_small)
    assert [(line.message, line.count) for line in recent_small.lines()] == [
        ("warning 2", 2),
        ("warning 4", 1),
        ("warning 3", 1),
    ]


def test_api_and_page_show_the_count(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        log = logging.getLogger("vigil.test.errorlog")
        log.error("camera cam-x failed: connection refused")
        for _ in range(500):
            log.warning("loop.mp4: skipped a corrupt packet")
        errors = client.get("/api/system", headers=bearer(app, "viewer")).json()["recent_errors"]
        counts = {e["message"]: e["count"] for e in errors}
        assert counts["loop.mp4: skipped a corrupt packet"] == 500
        assert counts["camera cam-x failed: connection refused"] == 1
        assert {"at", "level", "logger", "message", "count"} <= set(errors[0])
        page = client.get("/system", headers=bearer(app, "viewer"))
        assert page.status_code == 200 and "×500" in page.text
