"""Issue 3's acceptance scenario: the hamilton clip watched "yesterday" then "today" leaves the
performer as one visitor with 2 visits, listed by `vigil visitors --loyal --min-visits 1`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import read_image
from vigil.cli import app
from vigil.config import VigilSettings
from vigil.detect import create_detector
from vigil.detect.yunet import YuNetConfig
from vigil.embed import FaceCrop, create_embedder
from vigil.embed.dlib_resnet import DlibResnetConfig
from vigil.store.database import connect
from vigil.store.schema import Prototype, Visitor

PEOPLE = ("lin_manuel_miranda", "alex_lacamoire", "obama", "biden", "paul_rudd", "kit_harington")


def _reference_vectors(models_dir: Path) -> dict[str, np.ndarray]:
    detector = create_detector(YuNetConfig(), [models_dir])
    embedder = create_embedder(DlibResnetConfig())
    refs = {}
    for name in PEOPLE:
        folder = models_dir.parent / "media" / "faces" / "people" / name
        vectors = []
        for path in sorted(folder.iterdir())[:2]:
            image = read_image(str(path.relative_to(models_dir.parent)))
            found = detector.detect(image)
            best = int(np.argmax(found.score))
            assert found.landmarks is not None
            vectors.append(
                embedder.embed(FaceCrop.cut(image, found.xyxy[best], found.landmarks[best])).vector
            )
        mean = np.mean(vectors, axis=0)
        refs[name] = mean / np.linalg.norm(mean)
    return refs


def test_performer_is_one_loyal_visitor_after_two_days(
    hamilton: Path, models_dir: Path, tmp_path: Path
) -> None:
    env = {"VIGIL_SHARED_DIR": str(models_dir.parent), "VIGIL_MODELS_DIR": str(models_dir)}
    today = date.today()
    runner = CliRunner()
    for day, events in ((today - timedelta(days=1), "yesterday.jsonl"), (today, "today.jsonl")):
        args = [
            "watch",
            str(hamilton),
            "--no-realtime",
            "--recorded-at",
            f"{day}T15:00:00",
            "--events",
            events,
        ]
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    listed = runner.invoke(
        app, ["visitors", "--loyal", "--min-visits", "1", "--date", str(today), "--json"], env=env
    )
    assert listed.exit_code == 0, listed.output
    loyal = {v["visitor_id"]: v for v in json.loads(listed.output)["visitors"]}

    db = connect(f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    with db.reader.connect() as conn:
        protos = conn.execute(select(Prototype.visitor_id, Prototype.embedding)).all()
        visits = dict(conn.execute(select(Visitor.id, Visitor.visit_count)).all())
    db.dispose()
    refs = _reference_vectors(models_dir)
    names = list(refs)
    matrix = np.vstack([refs[n] for n in names])
    # Each visitor is attributed to the reference person it resembles most.
    performer = [str(v) for v, emb in protos if names[int(np.argmax(matrix @ emb))] == "lin_manuel_miranda"]
    assert len(performer) == 1, f"the performer is split over {len(performer)} visitors"
    assert visits[next(v for v, _ in protos if str(v) == performer[0])] == 2
    assert performer[0] in loyal
    entry = loyal[performer[0]]
    assert entry["visits_in_window"] == 2 and entry["past_visits"] == 1
    assert entry["arrival"].startswith(f"{today}T15:00")
    assert Path(entry["reference_photo"]).exists() and Path(entry["today_photo"]).exists()
    assert entry["frequency"] == "seen 2 times this week"

    todays = [json.loads(line) for line in Path("today.jsonl").read_text().splitlines()]
    embedded = [e for e in todays if e["type"] == "face_embedded"]
    assert embedded and all(e["new_visitor"] is False and e["similarity"] >= 0.9 for e in embedded)
    assert {e["visitor_id"] for e in embedded} <= {str(v) for v in visits}
    assert VigilSettings().store.same_person_similarity < 0.95
