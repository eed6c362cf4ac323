"""The SQL catalog: videos, shots, labels, annotations, model versions, events.

The source of truth for everything but vectors. SQLite (WAL, busy timeout) by default; any
SQLAlchemy URL (PostgreSQL for many annotators) works without code changes. Each public method
is one short transaction — unless it runs inside :meth:`Catalog.unit_of_work`, whose one
transaction every store method on the same thread then joins (a user action's rows and its
event commit together or not at all).

A shot is *visible* — counted, searched, trained on, scored — when its video is ``ready``
(:func:`_visible`, the one definition): an ingest or an import marks a video ready only once
its shots' vectors are in the matrix and the index, and every change to the visible shots or
their clusters bumps the corpus version (:data:`va_app.store.meta.CORPUS_VERSION`) in the same
transaction, so caches keyed on the version (the app's matrix and search) never lag the counts.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, delete, event, func, insert, or_, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from va_app.domain import Shot
from va_app.errors import DiskFullError, StoreError, is_disk_full
from va_app.store import migrate
from va_app.store.meta import CORPUS_VERSION, MATRIX_STAMP, VISIBLE_SHOTS
from va_app.store.schema import (
    EventRow,
    GroundTruthRow,
    MetaRow,
    ShotRow,
    SkippedRow,
    VideoRow,
    utcnow,
)

# Writers wait this long for SQLite's lock before failing (two annotators clicking together).
SQLITE_BUSY_TIMEOUT_MS = 15_000
READY = "ready"
INGESTING = "ingesting"
# Execution option marking the connections of Catalog.read sessions.
_READ_ONLY = "va_read_only"


@dataclass(frozen=True)
class Event:
    """One line of the activity log: who did what, when."""

    id: int
    at: datetime
    kind: str
    actor: str
    payload: dict


class Catalog:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        # The open unit of work per thread: the app serves every browser session from one
        # catalog, each on its own thread, so one session's action never joins another's.
        self._unit = threading.local()
        try:
            # A new catalog gets its tables; an older one must be upgraded first (open_corpus
            # and `db upgrade` do that, after a backup).
            migrate.prepare(self.engine)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            if _disk_full(url, exc):
                raise DiskFullError(
                    f"the disk holding the catalog ({_where(url)}) is full, so it cannot be "
                    "opened: free some space there and try again"
                ) from exc
            raise StoreError(
                f"the catalog database {_shown(url)} could not be opened: {exc}"
            ) from exc

    def session(self) -> AbstractContextManager[Session]:
        """A session for anything that writes (on SQLite: BEGIN IMMEDIATE, see below)."""
        return self._transaction(self._sessions)

    def read(self) -> AbstractContextManager[Session]:
        """A session that only reads. On SQLite it begins deferred: in WAL mode it reads a
        snapshot and neither waits for nor holds up a writer (a page render never queues behind
        an ingest or another annotator's click). Anything that writes uses :meth:`session`."""
        return self._transaction(self._read_sessions)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction for several store calls: inside it, every :meth:`session` and
        :meth:`read` on this thread is this one session, committed once at the end (rolled
        back on any error). Nested units join the outer one."""
        outer = getattr(self._unit, "session", None)
        if outer is not None:
            yield outer
            return
        with self._transaction(self._sessions, joinable=False) as s:
            self._unit.session = s
            try:
                yield s
            finally:
                self._unit.session = None

    @contextmanager
    def _transaction(self, sessions: sessionmaker, *, joinable: bool = True) -> Iterator[Session]:
        outer = getattr(self._unit, "session", None) if joinable else None
        if outer is not None:
            yield outer  # part of the open unit of work: it commits or rolls back as one
            return
        with sessions() as s:
            try:
                with s.begin():
                    yield s
            except OperationalError as exc:
                if _disk_full(self.url, exc):
                    raise DiskFullError(
                        f"the disk holding the catalog ({_where(self.url)}) is full: nothing "
                        "was saved; free some space there and try again"
                    ) from exc
                raise StoreError(f"the catalog database is unavailable: {exc.orig}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # -- corpus facts ------------------------------------------------------------------
    def get_meta(self, key: str, default: str = "") -> str:
        with self.read() as s:
            row = s.get(MetaRow, key)
            return row.value if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(MetaRow(key=key, value=str(value)))

    def _meta_values(self, *keys: str) -> dict[str, str]:
        """Those of ``keys`` the meta table holds, read in one transaction (together)."""
        with self.read() as s:
            query = select(MetaRow.key, MetaRow.value).where(MetaRow.key.in_(keys))
            return {key: value for key, value in s.execute(query).all()}

    def corpus_version(self) -> str:
        """Changes whenever the visible shots or their clusters change (a cache key)."""
        return self.get_meta(CORPUS_VERSION, "0")

    def matrix_stamp(self) -> tuple[str, str]:
        """``(corpus version, matrix stamp)`` read together: the stamp is current only while
        it ends in ``@<version>`` (see :meth:`stamp_matrix`)."""
        rows = self._meta_values(CORPUS_VERSION, MATRIX_STAMP)
        return rows.get(CORPUS_VERSION, "0"), rows.get(MATRIX_STAMP, "")

    def stamp_matrix(self, token: str, *, expected_version: str, shots: int | None = None) -> str:
        """Record a compacted matrix file: bump the version (readers reload and map the new
        file) and store ``<token>@<new version>`` — with ``shots``, the visible shots it holds
        (:meth:`count_shots` then answers from it while the version stays) — only if the
        version is still ``expected_version``; returns the stamp stored, or "" when the corpus
        changed since."""
        with self.session() as s:
            row = s.get(MetaRow, CORPUS_VERSION)
            if (row.value if row else "0") != expected_version:
                return ""
            version = int(expected_version) + 1
            stamp = f"{token}@{version}"
            _bump_corpus_version(s, visible_delta=0)
            s.merge(MetaRow(key=MATRIX_STAMP, value=stamp))
            if shots is not None:
                s.merge(MetaRow(key=VISIBLE_SHOTS, value=f"{int(shots)}@{version}"))
            return stamp

    # -- videos ------------------------------------------------------------------------
    def video_by_path(self, path: str) -> VideoRow | None:
        with self.read() as s:
            return s.scalars(select(VideoRow).where(VideoRow.path == path)).first()

    def videos(self, *, status: str | None = READY) -> list[VideoRow]:
        with self.read() as s:
            q = select(VideoRow).order_by(VideoRow.id)
            if status:
                q = q.where(VideoRow.status == status)
            return list(s.scalars(q))

    def count_videos(self, *, ready_only: bool = True) -> int:
        """Videos (visible ones unless ``ready_only=False``), counted by the database (the
        Home page's count: loading every video row took 0.5–0.9 s at 8,000 videos)."""
        with self.read() as s:
            q = select(func.count()).select_from(VideoRow)
            if ready_only:
                q = q.where(_visible())
            return int(s.scalar(q) or 0)

    def cut_list_facts(self) -> list[tuple[str, str, str, int]]:
        """``(video path, cut list, why refused, shots)`` of each visible video a cut list
        applies to: its shots came from the list, or the list was refused (then the why)."""
        n_shots = select(func.count(ShotRow.id)).where(ShotRow.video_id == VideoRow.id)
        with self.read() as s:
            q = (
                select(
                    VideoRow.path,
                    VideoRow.cut_list,
                    VideoRow.cut_list_problem,
                    n_shots.scalar_subquery(),
                )
                .where(_visible(), or_(VideoRow.cut_list != "", VideoRow.cut_list_problem != ""))
                .order_by(VideoRow.id)
            )
            return [(p, c, why, int(n)) for p, c, why, n in s.execute(q).all()]

    def unique_video_key(self, wanted: str) -> str:
        with self.read() as s:
            taken = set(s.scalars(select(VideoRow.key).where(VideoRow.key.like(f"{wanted}%"))))
        key, n = wanted, 2
        while key in taken:
            key, n = f"{wanted}-{n}", n + 1
        return key

    def begin_video(self, video: VideoRow, shots: list[ShotRow]) -> int:
        """Store a video as ``ingesting`` with its shots; returns its id."""
        with self.session() as s:
            video.status = INGESTING
            s.add(video)
            s.flush()
            for shot in shots:
                shot.video_id = video.id
            s.add_all(shots)
            return video.id

    def mark_video_ready(self, video_id: int) -> None:
        """Make a video's shots visible (their vectors must be stored already)."""
        with self.session() as s:
            was = s.scalar(select(VideoRow.status).where(VideoRow.id == video_id))
            s.execute(update(VideoRow).where(VideoRow.id == video_id).values(status=READY))
            shots = s.scalar(
                select(func.count()).select_from(ShotRow).where(ShotRow.video_id == video_id)
            )
            _bump_corpus_version(s, visible_delta=0 if was == READY else int(shots or 0))

    def delete_video(self, video_id: int) -> list[str]:
        """Remove a video and its shots (annotations stay); returns the removed shot ids."""
        with self.session() as s:
            status = s.scalar(select(VideoRow.status).where(VideoRow.id == video_id))
            ids = list(s.scalars(select(ShotRow.id).where(ShotRow.video_id == video_id)))
            s.execute(delete(GroundTruthRow).where(GroundTruthRow.shot_id.in_(ids)))
            s.execute(delete(ShotRow).where(ShotRow.video_id == video_id))
            s.execute(delete(VideoRow).where(VideoRow.id == video_id))
            if status == READY:
                _bump_corpus_version(s, visible_delta=-len(ids))
            return ids

    # -- bulk loading (dataset imports: whole tables, not video by video) ---------------------
    def insert_ingesting(self, videos: list[dict], shots: list[dict]) -> None:
        """One transaction: new videos (as ``ingesting``) and shots, as plain column dicts.

        A shot dict names its video by ``video_key`` (of a new or an earlier video) instead of
        ``video_id``. Core inserts of whole chunks: SQLAlchemy's ORM bulk path costs ~2× more
        at 500k rows.
        """
        with self.session() as s:
            conn = s.connection()
            if videos:
                conn.execute(insert(VideoRow), [{**v, "status": INGESTING} for v in videos])
            keys = list({shot["video_key"] for shot in shots})
            id_of = {
                key: vid
                for chunk in _chunks(keys, 500)
                for key, vid in conn.execute(
                    select(VideoRow.key, VideoRow.id).where(VideoRow.key.in_(chunk))
                ).all()
            }
            if shots:
                conn.execute(
                    insert(ShotRow),
                    [
                        {
                            **{k: v for k, v in shot.items() if k != "video_key"},
                            "video_id": id_of[shot["video_key"]],
                        }
                        for shot in shots
                    ],
                )

    def publish_ingesting(self, facts: Mapping[str, str]) -> None:
        """Every ``ingesting`` video becomes visible at once, its frame count and duration taken
        from its shots, in one transaction with the corpus ``facts`` (meta key → value)."""
        last_frame = select(func.max(ShotRow.end_frame)).where(ShotRow.video_id == VideoRow.id)
        last_second = select(func.max(ShotRow.end_s)).where(ShotRow.video_id == VideoRow.id)
        with self.session() as s:
            new_shots = s.scalar(
                select(func.count())
                .select_from(ShotRow)
                .join(VideoRow)
                .where(VideoRow.status == INGESTING)
            )
            s.execute(
                update(VideoRow)
                .where(VideoRow.status == INGESTING)
                .values(
                    status=READY,
                    n_frames=last_frame.scalar_subquery(),
                    duration_s=last_second.scalar_subquery(),
                )
            )
            for key, value in facts.items():
                s.merge(MetaRow(key=key, value=str(value)))
            _bump_corpus_version(s, visible_delta=int(new_shots or 0))

    def delete_ingesting(self) -> None:
        """Remove every ``ingesting`` video and its shots in bulk (an interrupted import)."""
        with self.session() as s:
            stale = select(VideoRow.id).where(VideoRow.status == INGESTING)
            s.execute(
                delete(ShotRow)
                .where(ShotRow.video_id.in_(stale))
                .execution_options(synchronize_session=False)
            )
            s.execute(
                delete(VideoRow)
                .where(VideoRow.status == INGESTING)
                .execution_options(synchronize_session=False)
            )

    # -- shots -------------------------------------------------------------------------
    def shot_ids(self, *, ready_only: bool = True) -> list[str]:
        with self.read() as s:
            return list(s.scalars(self._shots_query(ShotRow.id, ready_only)))

    def counted_shots(self) -> int | None:
        """The visible shots from the carried record, or None when it is not current."""
        known = self._meta_values(CORPUS_VERSION, VISIBLE_SHOTS)
        count, _, version = known.get(VISIBLE_SHOTS, "").partition("@")
        return int(count) if count and version == known.get(CORPUS_VERSION, "0") else None

    def visible_row_facts(self, ids: list[str]) -> dict[str, tuple[int | None, int, float]]:
        """``{id: (cluster, video id, duration)}`` of those of ``ids`` that are visible."""
        found: dict[str, tuple[int | None, int, float]] = {}
        with self.read() as s:
            for chunk in _chunks(ids, 500):
                rows = s.execute(
                    select(
                        ShotRow.id,
                        ShotRow.cluster,
                        ShotRow.video_id,
                        ShotRow.start_s,
                        ShotRow.end_s,
                    )
                    .join(VideoRow, VideoRow.id == ShotRow.video_id)
                    .where(ShotRow.id.in_(chunk), _visible())
                ).all()
                found.update((i, (c, v, end - start)) for i, c, v, start, end in rows)
        return found

    def count_shots(self, *, ready_only: bool = True) -> int:
        """Shots (visible ones only, unless ``ready_only=False``); the visible count comes
        from the record the last compaction made and every change since carried along (a
        COUNT over millions of shots takes seconds)."""
        counted = self.counted_shots() if ready_only else None
        if counted is not None:
            return counted
        with self.read() as s:
            q = select(func.count()).select_from(ShotRow)
            if ready_only:
                q = q.join(VideoRow).where(_visible())
            return int(s.scalar(q) or 0)

    def shots(self, ids: Iterable[str] | None = None) -> list[Shot]:
        """Visible shots, in catalog order (or the given ids' order)."""
        with self.read() as s:
            q = select(ShotRow, VideoRow).join(VideoRow).where(_visible())
            if ids is None:
                ordered = q.order_by(ShotRow.video_id, ShotRow.idx)
                return [to_shot(shot, video) for shot, video in s.execute(ordered)]
            # Primary-key lookups, then their videos: joined in one query, SQLite plans from
            # the videos' status index and walks every shot (85 ms at 500k instead of 1 ms).
            wanted = list(ids)
            rows: dict[str, ShotRow] = {}
            for chunk in _chunks(wanted, 500):
                query = select(ShotRow).where(ShotRow.id.in_(chunk))
                rows.update((r.id, r) for r in s.scalars(query))
            video_ids = list({r.video_id for r in rows.values()})
            videos = {
                v.id: v
                for chunk in _chunks(video_ids, 500)
                for v in s.scalars(select(VideoRow).where(VideoRow.id.in_(chunk), _visible()))
            }
            return [
                to_shot(rows[i], videos[rows[i].video_id])
                for i in wanted
                if i in rows and rows[i].video_id in videos
            ]

    def set_clusters(self, clusters: Mapping[str, int]) -> None:
        """Store cluster ids, bumping the corpus version in the same transaction (readers key
        their caches on it, so both change together or not at all)."""
        with self.session() as s:
            s.execute(update(ShotRow), [{"id": k, "cluster": int(v)} for k, v in clusters.items()])
            _bump_corpus_version(s, visible_delta=0)
            # The compacted file's stored clusters are old now: no reader may use them.
            s.execute(delete(MetaRow).where(MetaRow.key == MATRIX_STAMP))

    def clusters(self) -> dict[str, int | None]:
        """Every visible shot's diversity cluster (None before the first clustering)."""
        with self.read() as s:
            rows = s.execute(self._shots_query((ShotRow.id, ShotRow.cluster), True)).all()
            return {shot_id: cluster for shot_id, cluster in rows}

    def video_columns(self) -> list[tuple]:
        """``(id, key, title, genre, tags)`` of every visible video."""
        with self.read() as s:
            videos = s.execute(
                select(
                    VideoRow.id, VideoRow.key, VideoRow.title, VideoRow.genre, VideoRow.tags
                ).where(_visible())
            ).all()
        return [tuple(v) for v in videos]

    def shot_columns(self) -> tuple[list[tuple], list[tuple]]:
        """The visible shots as plain columns, for arrays: ``(id, key, title, genre, tags)``
        per video and ``(id, video_id, start_s, end_s)`` per shot (building ``Shot`` objects
        took ~4 s per 100k shots here; this is ~10× faster)."""
        videos = self.video_columns()
        with self.read() as s:
            shots = s.execute(
                select(ShotRow.id, ShotRow.video_id, ShotRow.start_s, ShotRow.end_s)
                .join(VideoRow)
                .where(_visible())
            ).all()
        return videos, [tuple(r) for r in shots]

    def row_facts(self, *, batch: int = 100_000) -> Iterator[list[tuple]]:
        """``(shot id, cluster, video id, start_s, end_s)`` of every visible shot, ``batch``
        rows at a time: what a compacted matrix file keeps beside each row."""
        columns = (ShotRow.id, ShotRow.cluster, ShotRow.video_id, ShotRow.start_s, ShotRow.end_s)
        with self.read() as s:
            result = s.execute(self._shots_query(columns, True).execution_options(yield_per=batch))
            for part in result.partitions(batch):
                yield [tuple(r) for r in part]

    def shots_added_since(self, since: datetime | None) -> set[str]:
        """Ids of the shots whose row was added after ``since`` (every shot when None)."""
        query = select(ShotRow.id)
        if since is not None:
            query = query.where(ShotRow.added_at > since)
        with self.read() as s:
            return set(s.scalars(query))

    def add_ground_truth(self, rows: Iterable[tuple[str, str, bool]]) -> None:
        with self.session() as s:
            for shot_id, concept, value in rows:
                s.merge(GroundTruthRow(shot_id=shot_id, concept=concept, value=bool(value)))

    def ground_truth(self, concept: str) -> dict[str, bool]:
        with self.read() as s:
            q = select(GroundTruthRow.shot_id, GroundTruthRow.value).where(
                GroundTruthRow.concept == concept
            )
            return {shot_id: value for shot_id, value in s.execute(q).all()}

    def ground_truth_concepts(self) -> list[str]:
        with self.read() as s:
            return sorted(s.scalars(select(GroundTruthRow.concept).distinct()))

    # -- skipped files -----------------------------------------------------------------
    def record_skipped(self, path: str, reason: str) -> None:
        with self.session() as s:
            s.merge(SkippedRow(path=path, reason=reason, seen_at=utcnow()))

    def clear_skipped(self, path: str) -> None:
        with self.session() as s:
            s.execute(delete(SkippedRow).where(SkippedRow.path == path))

    def skipped(self) -> list[tuple[str, str]]:
        with self.read() as s:
            q = select(SkippedRow.path, SkippedRow.reason).order_by(SkippedRow.path)
            return [(path, reason) for path, reason in s.execute(q).all()]

    def count_rows(self, table) -> int:
        with self.read() as s:
            return int(s.scalar(select(func.count()).select_from(table)) or 0)

    # -- events ------------------------------------------------------------------------
    def log_event(self, kind: str, *, actor: str = "", payload: dict | None = None) -> None:
        with self.session() as s:
            s.add(EventRow(kind=kind, actor=actor, payload=payload or {}))

    def events(self, kind: str | None = None) -> list[Event]:
        """The activity log, oldest first (only ``kind`` when given)."""
        with self.read() as s:
            q = select(EventRow).order_by(EventRow.id)
            if kind is not None:
                q = q.where(EventRow.kind == kind)
            return [Event(r.id, r.at, r.kind, r.actor, dict(r.payload or {})) for r in s.scalars(q)]

    @staticmethod
    def _shots_query(columns, ready_only: bool):
        cols = columns if isinstance(columns, tuple) else (columns,)
        q = select(*cols).order_by(ShotRow.video_id, ShotRow.idx)
        if ready_only:
            q = q.join(VideoRow, VideoRow.id == ShotRow.video_id).where(_visible())
        return q


def _visible():
    """The SQL condition of a visible shot (joined with its video): the video is ready."""
    return VideoRow.status == READY


def _bump_corpus_version(s: Session, *, visible_delta: int | None = None) -> None:
    """Move the corpus version on; carry the visible-shots record along by ``visible_delta``
    when it was current (None: the change is not counted, the record goes stale)."""
    row = s.get(MetaRow, CORPUS_VERSION)
    old = int(row.value if row else 0)
    s.merge(MetaRow(key=CORPUS_VERSION, value=str(old + 1)))
    counted = s.get(MetaRow, VISIBLE_SHOTS)
    if counted is not None and visible_delta is not None:
        shots, _, at = counted.value.partition("@")
        if at == str(old):
            s.merge(MetaRow(key=VISIBLE_SHOTS, value=f"{int(shots) + visible_delta}@{old + 1}"))


def to_shot(shot: ShotRow, video: VideoRow) -> Shot:
    """The domain value of a shot row and its video row."""
    return Shot(
        id=shot.id,
        video_id=video.id,
        video_key=video.key,
        start_frame=shot.start_frame,
        end_frame=shot.end_frame,
        start_s=shot.start_s,
        end_s=shot.end_s,
        fps=shot.fps,
        title=video.title,
        genre=video.genre,
        tags=tuple(video.tags or ()),
        cluster=shot.cluster,
        thumb_path=shot.thumb_path,
        filmstrip_path=shot.filmstrip_path,
        video_path=video.path,
        source_url=_at_time(video.source_url or "", shot.start_s),
    )


def _at_time(url: str, start_s: float) -> str:
    """A link to the source clip that opens at the shot (YouTube's ``t=`` parameter)."""
    if "youtube.com/watch" in url and "&t=" not in url:
        return f"{url}&t={int(start_s)}s"
    return url


#: Less free space than this beside a SQLite file that failed an I/O is a full disk.
_NO_ROOM_BYTES = 256 << 10


def _disk_full(url: str, exc: BaseException) -> bool:
    """Whether ``exc`` comes from a full disk: said so, or (SQLite reports a failed write of
    its WAL or shared-memory file as a plain "disk I/O error") nearly no room beside the file."""
    if is_disk_full(exc):
        return True
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or "I/O" not in str(exc):
        return False
    folder = Path(parsed.database).expanduser().parent
    return folder.is_dir() and shutil.disk_usage(folder).free < _NO_ROOM_BYTES


def _where(url: str) -> str:
    """The catalog as a user finds it: its file, or the server's URL (no password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return _shown(url)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def make_engine(url: str) -> Engine:
    """The catalog's engine (SQLite: WAL, busy timeout, writers BEGIN IMMEDIATE)."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Take transactions into our own hands so "BEGIN IMMEDIATE" can be issued (see below).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin_immediate(conn) -> None:
    # Writers queue on the lock up front instead of failing on upgrade (SQLITE_BUSY);
    # read-only sessions (Catalog.read) begin deferred and never take the write lock.
    read_only = conn.get_execution_options().get(_READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
