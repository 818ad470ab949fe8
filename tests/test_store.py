"""The identity store on both backends (SQLite file, real PostgreSQL + pgvector from `pgserver`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from vigil.config import StoreConfig, VigilSettings
from vigil.errors import (
    MergeIntoItself,
    SightingsNotOwned,
    SplitTakesAll,
    StoreError,
    StoreUnavailable,
    VisitorNotFound,
)
from vigil.store.analytics import frequency_text, visitor_sightings, visitor_summaries
from vigil.store.crops import CropStore
from vigil.store.database import connect
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.store.schema import Prototype, PrototypeAnchor, Sighting, Visit, Visitor
from vigil.types import FaceEmbedding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RNG = np.random.default_rng(7)
PEOPLE = RNG.normal(size=(6, 128)).astype(np.float32)  # random 128-d directions: cos ≈ 0 between people


def face(person: int, noise: float = 0.05, model: str = "m1", seed: int = 0) -> FaceEmbedding:
    jitter = (
        np.random.default_rng(seed).normal(size=128) * noise * np.linalg.norm(PEOPLE[person]) / np.sqrt(128)
    )
    return FaceEmbedding(PEOPLE[person] + jitter, model)


def crop(value: int = 128) -> np.ndarray:
    return np.full((120, 100, 3), value, np.uint8)


def obs(person: int, at: datetime, track: int = 0, quality: float = 0.5, **kw: object) -> FaceObservation:
    seed = int(kw.pop("seed", track))  # type: ignore[call-overload]
    model = str(kw.pop("model", "m1"))
    image = kw.pop("crop", crop())
    return FaceObservation("cam-a", track, at, face(person, seed=seed, model=model), quality, image)  # type: ignore[arg-type]


def open_store(url: str, tmp_path: Path, **config: object) -> IdentityStore:
    settings = VigilSettings(data_dir=tmp_path / "data", store=StoreConfig(url=url, **config))
    return IdentityStore.open(settings)


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[IdentityStore]:
    s = open_store(db_url, tmp_path, same_person_similarity=0.9)
    yield s
    s.close()


def test_same_face_joins_visitor_and_other_face_founds_one(store: IdentityStore) -> None:
    first = store.observe(obs(0, T0, track=1))
    again = store.observe(obs(0, T0 + timedelta(minutes=1), track=2))
    other = store.observe(obs(1, T0 + timedelta(minutes=2), track=3))
    assert first.new_visitor and first.similarity is None
    assert not again.new_visitor and again.visitor_id == first.visitor_id
    assert again.similarity is not None and again.similarity > 0.95
    assert other.new_visitor and other.visitor_id != first.visitor_id
    assert other.similarity is not None and other.similarity < 0.5
    counts = store.counts()
    assert counts["visitors"] == 2 and counts["sightings"] == 3 and counts["prototypes"] == 2


def test_embeddings_of_different_models_are_never_compared(store: IdentityStore) -> None:
    a = store.observe(obs(0, T0, track=1, model="m1"))
    b = store.observe(obs(0, T0, track=2, model="m2"))
    assert b.new_visitor and b.visitor_id != a.visitor_id and b.similarity is None
    with store.db.reader.connect() as conn:
        dims = conn.execute(select(Prototype.model, Prototype.dim)).all()
    assert sorted(dims) == [("m1", 128), ("m2", 128)]


def test_visits_group_sightings_closer_than_the_gap(store: IdentityStore) -> None:
    times = [T0, T0 + timedelta(minutes=20), T0 + timedelta(minutes=45), T0 + timedelta(hours=3)]
    ids = {store.observe(obs(0, t, track=i)).visitor_id for i, t in enumerate(times)}
    assert len(ids) == 1
    # An out-of-order sighting (before the latest visit) within the gap of the first visit joins it.
    store.observe(obs(0, T0 + timedelta(minutes=75), track=9))
    with store.db.reader.connect() as conn:
        visitor = conn.execute(select(Visitor.__table__)).mappings().one()
        visits = conn.execute(select(Visit.started_at, Visit.sightings).order_by(Visit.started_at)).all()
    assert visitor["visit_count"] == 2 == len(visits)
    assert [v[1] for v in visits] == [4, 1]
    assert visitor["first_seen_at"] == T0 and visitor["last_seen_at"] == times[-1]


def test_better_embedding_of_a_track_corrects_its_assignment(store: IdentityStore) -> None:
    anchor = store.observe(obs(2, T0, track=1))
    # Track 2 starts with a poor embedding that looks like nobody known...
    poor = FaceObservation("cam-a", 2, T0, FaceEmbedding(PEOPLE[3], "m1"), 0.3, crop())
    first = store.observe(poor)
    assert first.new_visitor
    # ...then a better one of person 2: the track's sighting joins the anchor and its visitor goes.
    fixed = store.update_track(first.sighting_id, obs(2, T0, track=2, quality=0.9))
    assert fixed.visitor_id == anchor.visitor_id and fixed.moved_from == first.visitor_id
    counts = store.counts()
    assert counts["visitors"] == 1 and counts["sightings"] == 2 and counts["prototypes"] == 1
    assert store.crops.resolve(store.crops.visitor_path(first.visitor_id)).exists() is False


def test_split_gives_the_original_visitor_a_photo_of_its_own_face(store: IdentityStore) -> None:
    kept = store.observe(obs(0, T0, track=1, quality=0.5, crop=crop(40)))
    wrong = store.observe(obs(0, T0 + timedelta(minutes=1), track=2, quality=0.9, crop=crop(220)))
    assert wrong.visitor_id == kept.visitor_id  # the better photo (crop 220) became the reference
    store.split(kept.visitor_id, [wrong.sighting_id])
    with store.db.reader.connect() as conn:
        query = select(Visitor.best_image_path).where(Visitor.id == kept.visitor_id)
        photo = conn.execute(query).scalar_one()
    assert photo is not None
    image = cv2.imread(str(store.crops.resolve(photo)))
    assert image is not None and abs(float(image.mean()) - 40) < 10


def test_merge_and_split_repair_identities(store: IdentityStore) -> None:
    a = [store.observe(obs(0, T0 + timedelta(hours=h), track=h)) for h in range(3)]
    b = store.observe(obs(1, T0 + timedelta(days=1), track=10))
    store.merge(a[0].visitor_id, b.visitor_id)
    with store.db.reader.connect() as conn:
        merged = conn.execute(select(Visitor.__table__).where(Visitor.id == a[0].visitor_id)).mappings().one()
        assert conn.execute(select(func.count()).select_from(Visitor)).scalar_one() == 1
    assert merged["visit_count"] == 4 and merged["last_seen_at"] == T0 + timedelta(days=1)
    new_id = store.split(a[0].visitor_id, [b.sighting_id])
    with store.db.reader.connect() as conn:
        owners = dict(conn.execute(select(Sighting.id, Sighting.visitor_id)).all())
        proto = conn.execute(select(Prototype.embedding).where(Prototype.visitor_id == new_id)).scalar_one()
        photo = conn.execute(select(Visitor.best_image_path).where(Visitor.id == new_id)).scalar_one()
    assert owners[b.sighting_id] == new_id
    assert sum(1 for v in owners.values() if v == a[0].visitor_id) == 3
    assert float(proto @ face(1).vector) > 0.99  # the new visitor's prototype is person 1's face
    assert photo is not None and store.crops.resolve(photo).exists()
    with pytest.raises(SplitTakesAll, match="at least one sighting"):
        store.split(new_id, [b.sighting_id])
    with pytest.raises(SightingsNotOwned, match="do not belong"):
        store.split(new_id, [a[1].sighting_id])
    with pytest.raises(MergeIntoItself):
        store.merge(new_id, new_id)
    unknown = uuid.uuid4()
    with pytest.raises(VisitorNotFound, match="no visitor") as refused:
        store.merge(a[0].visitor_id, unknown)
    assert refused.value.visitor_id == unknown


def test_erase_leaves_nothing_of_the_person(store: IdentityStore, tmp_path: Path) -> None:
    gone = [store.observe(obs(0, T0 + timedelta(days=d), track=d)) for d in range(3)]
    kept = store.observe(obs(1, T0, track=7))
    victim = gone[0].visitor_id
    files_before = set(store.crops.all_files())
    removed = store.erase(victim)
    assert removed == 2 * (3 + 1)  # 3 sighting crops + the reference photo, each with a thumbnail
    with store.db.reader.connect() as conn:
        for table, column in (
            (Visitor, Visitor.id),
            (Sighting, Sighting.visitor_id),
            (Visit, Visit.visitor_id),
        ):
            assert (
                conn.execute(select(func.count()).select_from(table).where(column == victim)).scalar_one()
                == 0
            )
        assert conn.execute(select(func.count()).where(Prototype.visitor_id == victim)).scalar_one() == 0
        anchors = select(func.count()).where(PrototypeAnchor.visitor_id == victim)
        assert conn.execute(anchors).scalar_one() == 0
    left = set(store.crops.all_files())
    assert all(str(victim) not in f for f in left)
    assert not any(str(g.sighting_id) in f for g in gone for f in left)
    assert len(files_before - left) == 4 and any(str(kept.sighting_id) in f for f in left)
    again = store.observe(obs(0, T0 + timedelta(days=5), track=20))
    assert again.new_visitor  # the erased prototype no longer matches
    with pytest.raises(VisitorNotFound):
        store.erase(victim)


@pytest.mark.parametrize("keep_prototypes", [True, False])
def test_retention_deletes_old_sightings_and_crops(
    db_url: str, tmp_path: Path, keep_prototypes: bool
) -> None:
    store = open_store(db_url, tmp_path, retention_days=30, retention_keep_prototypes=keep_prototypes)
    try:
        old = store.observe(obs(0, T0 - timedelta(days=60), track=1))
        both = store.observe(obs(1, T0 - timedelta(days=60), track=2))
        recent = store.observe(obs(1, T0 - timedelta(days=1), track=3))
        assert both.visitor_id == recent.visitor_id
        sightings, visitors = store.apply_retention(T0)
        assert sightings == 2 and visitors == (0 if keep_prototypes else 1)
        files = store.crops.all_files()
        assert not any(str(s.sighting_id) in f for s in (old, both) for f in files)
        assert any(str(recent.sighting_id) in f for f in files)
        with store.db.reader.connect() as conn:
            ids = set(conn.execute(select(Visitor.id)).scalars())
            count = conn.execute(
                select(Visitor.visit_count).where(Visitor.id == recent.visitor_id)
            ).scalar_one()
        assert count == 1
        assert (old.visitor_id in ids) is keep_prototypes
        later = store.observe(obs(0, T0, track=4))
        assert later.new_visitor is not keep_prototypes  # a kept prototype still recognises them
    finally:
        store.close()


def test_loyal_visitors_seen_today_and_before(store: IdentityStore) -> None:
    yesterday, today = T0 - timedelta(days=1), T0 + timedelta(hours=1)
    loyal = store.observe(obs(0, yesterday, track=1))
    store.observe(obs(0, today, track=2, quality=0.8, crop=crop(200)))
    store.observe(obs(1, today + timedelta(minutes=5), track=3))  # first-time visitor today
    store.observe(obs(2, yesterday, track=4))  # came yesterday only
    with store.db.reader.connect() as conn:
        page = visitor_summaries(conn, today.date(), UTC, loyal=True, min_visits=1)
        everyone = visitor_summaries(conn, today.date(), UTC, min_visits=1, sort="visits")
        stricter = visitor_summaries(conn, today.date(), UTC, loyal=True, min_visits=2)
        timeline = visitor_sightings(conn, loyal.visitor_id)
    assert page.total == 1 and [s.visitor_id for s in page.items] == [loyal.visitor_id]
    item = page.items[0]
    assert item.visits_in_window == 2 and item.past_visits == 1 and item.frequency == "seen 2 times this week"
    assert item.arrival == today and item.cameras == ["cam-a"]
    assert item.today_photo is not None and item.today_photo.startswith(f"{today:%Y/%m/%d}/")
    assert item.reference_photo == store.crops.visitor_path(loyal.visitor_id)
    assert everyone.total == 3 and everyone.items[0].visitor_id == loyal.visitor_id
    assert stricter.total == 0
    assert [r.captured_at for r in timeline] == [today, yesterday]
    assert frequency_text(1, 30) == "seen once in the last 30 days"


def test_orphan_crops_are_removed_at_start(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, tmp_path, orphan_grace_s=0)
    kept = store.observe(obs(0, T0, track=1))
    crops = store.crops
    store.close()
    # A crash after the crop was written but before its row: the file has no row.
    orphan = crops.save(crops.sighting_path(uuid.uuid4(), T0), crop())
    (crops.root / "2026" / ".x.webp.1234.tmp").write_bytes(b"partial")
    reopened = open_store(db_url, tmp_path, orphan_grace_s=0)
    reopened.tidy()  # what `vigil watch` and `vigil serve` do at start
    try:
        files = reopened.crops.all_files()
        assert orphan not in files and not any(f.endswith(".tmp") for f in files)
        assert any(str(kept.sighting_id) in f for f in files)
        assert len(files) == 2  # the kept sighting's crop and its visitor's reference photo
    finally:
        reopened.close()


def test_failed_transaction_leaves_no_crop(store: IdentityStore) -> None:
    bad = FaceObservation("cam-a", 1, datetime(2026, 1, 1), face(0), 0.5, crop())  # naive time: rejected
    with pytest.raises(Exception, match="naive datetime"):
        store.observe(bad)
    assert store.crops.all_files() == [] and store.counts()["sightings"] == 0


def test_unknown_and_unreachable_databases_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        connect("mysql://user@localhost/vigil")
    with pytest.raises(StoreError, match="invalid database URL"):
        connect("not a url")
    with pytest.raises(StoreUnavailable, match="cannot reach the database"):
        connect("postgresql://vigil:secret@127.0.0.1:1/vigil")


def head_revision() -> str | None:
    return ScriptDirectory(str(resources.files("vigil.store") / "migrations")).get_current_head()


def test_schema_is_migrated_once_and_reopened(db_url: str, tmp_path: Path) -> None:
    first = connect(db_url)
    second = connect(db_url)  # an up-to-date schema is left alone
    with second.reader.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
    first.dispose()
    second.dispose()


def test_crop_paths_cannot_escape_the_faces_directory(tmp_path: Path) -> None:
    crops = CropStore(tmp_path / "faces")
    with pytest.raises(ValueError, match="escapes"):
        crops.resolve("../../etc/passwd")
    saved = crops.save(crops.sighting_path(uuid.uuid4(), T0), crop())
    assert saved.startswith("2026/11/20/") and saved.endswith(".webp")
    assert crops.resolve(saved).with_name(Path(saved).stem + "_thumb.webp").exists()


def test_days_are_local_calendar_days(store: IdentityStore) -> None:
    paris = datetime(2026, 11, 21, 0, 30).astimezone().tzinfo  # the test machine's zone
    assert paris is not None
    at = datetime(2026, 11, 21, 0, 30, tzinfo=paris)
    store.observe(obs(0, at, track=1))
    with store.db.reader.connect() as conn:
        assert visitor_summaries(conn, date(2026, 11, 21), paris, min_visits=1).total == 1
        assert visitor_summaries(conn, date(2026, 11, 22), paris, min_visits=1, window_days=1).total == 0


def test_one_batch_founds_and_extends_a_visit(store: IdentityStore) -> None:
    batch = [obs(4, T0 + timedelta(minutes=m), track=m) for m in (0, 5, 10)]
    results = store.observe_many(batch)
    assert results[0].new_visitor and {r.visitor_id for r in results} == {results[0].visitor_id}
    with store.db.reader.connect() as conn:
        visits = conn.execute(select(Visit.started_at, Visit.ended_at, Visit.sightings)).all()
        linked = conn.execute(select(func.count()).where(Sighting.visit_id.is_not(None))).scalar_one()
    assert visits == [(T0, T0 + timedelta(minutes=10), 3)] and linked == 3


def test_purge_command_reports_what_it_deletes(db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vigil.cli import app

    store = open_store(db_url, tmp_path, retention_days=30)
    now = datetime.now(UTC)
    store.observe(obs(0, now - timedelta(days=40), track=1))
    store.observe(obs(0, now - timedelta(days=1), track=2))
    store.close()
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_STORE__RETENTION_DAYS": "30"}
    result = CliRunner().invoke(app, ["visitors", "purge", "--db", db_url], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted 1 sightings and 0 visitors" in result.output  # opening the store purged nothing
    reopened = open_store(db_url, tmp_path)
    try:
        assert reopened.counts()["sightings"] == 1
    finally:
        reopened.close()


def _prototype_and_mean(store: IdentityStore, visitor: uuid.UUID) -> tuple[np.ndarray, np.ndarray, int]:
    with store.db.reader.connect() as conn:
        proto, count = conn.execute(
            select(Prototype.embedding, Prototype.sightings).where(Prototype.visitor_id == visitor)
        ).one()
        vectors = conn.execute(select(Sighting.embedding).where(Sighting.visitor_id == visitor)).scalars()
        mean = np.mean(np.vstack(list(vectors)), axis=0)
    return np.asarray(proto), mean, int(count)


def test_prototype_is_the_mean_of_all_sightings_on_every_write_path(store: IdentityStore) -> None:
    """Batched ingest, a better embedding of a track (incremental shift) and a rebuild (merge) must
    all leave the same definition: the plain mean of the visitor's sightings."""
    first = store.observe(obs(4, T0, track=1))
    store.observe_many([obs(4, T0 + timedelta(minutes=i), track=10 + i, seed=10 + i) for i in range(5)])
    proto, mean, count = _prototype_and_mean(store, first.visitor_id)
    assert count == 6 and np.allclose(proto, mean, atol=1e-5)

    better = store.update_track(first.sighting_id, obs(4, T0, track=1, seed=99, quality=0.9))
    assert better.visitor_id == first.visitor_id and better.moved_from is None
    proto, mean, count = _prototype_and_mean(store, first.visitor_id)
    assert count == 6 and np.allclose(proto, mean, atol=1e-5)

    other = store.observe(obs(5, T0, track=30))
    store.merge(first.visitor_id, other.visitor_id)
    proto, mean, count = _prototype_and_mean(store, first.visitor_id)
    assert count == 7 and np.allclose(proto, mean, atol=1e-5)
    # The search still scores by cosine: a fresh face of person 4 is found with high similarity.
    assert store.lookup(face(4, seed=123))[0].similarity > 0.9


def test_postgres_sessions_use_the_configured_hnsw_ef_search(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("HNSW search parameters exist on PostgreSQL only")
    from vigil.store.vectors import HNSW_EF_SEARCH

    s = open_store(db_url, tmp_path)
    try:
        with s.db.reader.connect() as conn:
            assert conn.execute(text("SHOW hnsw.ef_search")).scalar() == str(HNSW_EF_SEARCH)
    finally:
        s.close()


def test_pop_top_k_matches_a_full_sort() -> None:
    from vigil.store.vectors import pop_top_k

    scores = np.random.default_rng(3).normal(size=(7, 1000)).astype(np.float32)
    expected = np.argsort(-scores, axis=1)[:, :3]
    cols, values = pop_top_k(scores.copy(), 3)
    assert np.array_equal(cols, expected)
    assert np.allclose(values, np.take_along_axis(scores, expected, axis=1))
