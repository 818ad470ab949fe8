"""GET /api/audio-devices and POST /api/set-audio-device over a real PulseAudio null sink (the
fixture of tests/test_activity_microphone.py): the list holds the sink's monitor, an admin chooses
it by name or index (validated against the list, kept in the data directory across app restarts),
unknown devices and viewers are refused, and without a server the list is empty with a reason."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.test_activity_microphone import MONITOR_PCM, Pulse, pulse  # noqa: F401 (fixture)
from tests.web_util import bearer, make_app


def test_list_choose_and_keep_the_null_sinks_monitor(pulse: Pulse, tmp_path: Path) -> None:  # noqa: F811
    app = make_app(tmp_path)
    with TestClient(app, headers=bearer(app)) as client:
        listing = client.get("/api/audio-devices")
        assert listing.status_code == 200, listing.text
        body = listing.json()
        names = [d["name"] for d in body["devices"]]
        assert MONITOR_PCM in names and body["selected_from"] == "default" and body["selector"] is None
        monitor = next(d for d in body["devices"] if d["name"] == MONITOR_PCM)

        chosen = client.post("/api/set-audio-device", json={"name": MONITOR_PCM})
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["selected"] == monitor and chosen.json()["selected_from"] == "saved"
        by_index = client.post("/api/set-audio-device", json={"index": monitor["index"]})
        assert by_index.json()["selected"]["name"] == MONITOR_PCM

        assert client.post("/api/set-audio-device", json={"name": "no such mic"}).status_code == 404
        assert client.post("/api/set-audio-device", json={}).status_code == 422
        assert client.post("/api/set-audio-device", json={"index": 0, "name": "x"}).status_code == 422
        viewer = bearer(app, role="viewer", username="watcher")
        assert client.get("/api/audio-devices", headers=viewer).status_code == 200
        assert client.post("/api/set-audio-device", headers=viewer, json={"index": 0}).status_code == 403
    saved = tmp_path / "data" / "audio_device.json"
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600

    again = make_app(tmp_path)  # a restart keeps the choice
    with TestClient(again, headers=bearer(again)) as client:
        assert client.get("/api/audio-devices").json()["selected"]["name"] == MONITOR_PCM


def test_without_a_sound_server_the_list_is_empty_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = Path("/proc/asound/cards")
    if cards.exists() and "no soundcards" not in cards.read_text():
        pytest.skip("this machine has a sound card")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/none")
    monkeypatch.setenv("HOME", str(tmp_path))
    app = make_app(tmp_path)
    with TestClient(app, headers=bearer(app)) as client:
        body = client.get("/api/audio-devices").json()
        assert body["devices"] == [] and body["selected"] is None and "no input device" in body["reason"]
        assert client.post("/api/set-audio-device", json={"index": 0}).status_code == 404
