"""SQL schema of the catalog (SQLAlchemy 2 declarative; SQLite by default, PostgreSQL works).

Annotations are an append-only log: every click is one row (``value`` NULL = cleared), so two
annotators never overwrite each other and the full history stays auditable. An annotator's
latest row for a (label, shot) is their current word. A decision made in the card grid carries
the id its browser gave it (``decision_id``, unique): a decision sent again — after a reload, a
server restart, a lost confirmation — is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Longest decision id a browser may send (a UUID has 36 characters).
DECISION_ID_MAX = 64


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Corpus-wide facts: the encoder that built it, its dimension, the clusters' version."""

    __tablename__ = "corpus_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VideoRow(Base):
    __tablename__ = "videos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    fingerprint: Mapped[str] = mapped_column(String(128), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    genre: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    source_url: Mapped[str] = mapped_column(Text, default="")
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    n_frames: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    codec: Mapped[str] = mapped_column(String(64), default="")
    # The editor's cut list whose events are the video's shots ("" = shots were detected), and
    # why a cut list that applies to it was not used ("" = none was refused).
    cut_list: Mapped[str] = mapped_column(Text, default="", server_default="")
    cut_list_problem: Mapped[str] = mapped_column(Text, default="", server_default="")
    # "ingesting" until its shots are in all three stores; recovery removes the rest.
    status: Mapped[str] = mapped_column(String(16), default="ingesting", index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ShotRow(Base):
    __tablename__ = "shots"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    start_frame: Mapped[int] = mapped_column(Integer)
    end_frame: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    fps: Mapped[float] = mapped_column(Float)
    thumb_path: Mapped[str] = mapped_column(Text, default="")
    filmstrip_path: Mapped[str] = mapped_column(Text, default="")
    cluster: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class GroundTruthRow(Base):
    """Known attributes of generated (demo) shots — for simulations and tests, never shown."""

    __tablename__ = "ground_truth"
    shot_id: Mapped[str] = mapped_column(
        ForeignKey("shots.id", ondelete="CASCADE"), primary_key=True
    )
    concept: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[bool] = mapped_column(Boolean)


class SkippedRow(Base):
    __tablename__ = "skipped_files"
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LabelRow(Base):
    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Case- and space-folded name: "Car Chase" and "car  chase" are the same label.
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    hints: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AnnotationRow(Base):
    __tablename__ = "annotations"
    __table_args__ = (Index("ix_ann_label_shot", "label_id", "shot_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    # No foreign key on purpose: a re-ingested video keeps the same shot ids, and an
    # annotation must never disappear with a shot row.
    shot_id: Mapped[str] = mapped_column(String(300))
    value: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    annotator: Mapped[str] = mapped_column(String(200), index=True)
    source: Mapped[str] = mapped_column(String(64), default="search")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # The browser's id of a card-grid decision (NULL for imports and older rows); unique, so
    # a decision re-sent after a reload or a server restart is written once.
    decision_id: Mapped[str | None] = mapped_column(
        String(DECISION_ID_MAX), nullable=True, unique=True, index=True
    )


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("label_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    n_pos: Mapped[int] = mapped_column(Integer)
    n_neg: Mapped[int] = mapped_column(Integer)
    model_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    data_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    annotators: Mapped[list] = mapped_column(JSON, default=list)
    encoder_id: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class EventRow(Base):
    """Activity log (ingests, builds, label changes) for the dashboard and audits."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
