"""Labels and annotations on top of the SQL catalog.

Annotations are an append-only log (one row per click; ``value`` NULL means "cleared"). An
annotator's latest row on a (label, shot) is their current word; the label's training value
for a shot is the majority of the annotators' current words (the fold is
:func:`va_app.domain.fold_votes`), ties left out of training and reported.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from va_app.domain import (
    Annotation,
    Label,
    ShotVerdict,
    Source,
    TrainingSet,
    current_words,
    shot_verdicts,
)
from va_app.errors import NotFoundError, ValidationError
from va_app.store.catalog import Catalog
from va_app.store.meta import NETFLIX_ANNOTATOR_ROLES
from va_app.store.schema import AnnotationRow, LabelRow, ShotRow, utcnow

MAX_LABEL_NAME = 80
# Both backends the catalog runs on have INSERT ... ON CONFLICT (see _insert_once).
_DIALECT_INSERT: dict[str, Callable[[Table], SqliteInsert | PostgresqlInsert]] = {
    "sqlite": sqlite_insert,
    "postgresql": postgresql_insert,
}
#: The case-folded name is the label's identity (``labels.name_key``, a 100-character column;
#: PostgreSQL enforces the length): folding can lengthen a name (ß → ss, ﬃ → ffi).
MAX_LABEL_KEY = 100
# Path separators and angle brackets have no business in a concept name and are the usual
# vehicles of path traversal and HTML injection; control characters (C0 and C1) and the
# bidirectional overrides that make text display other than it reads are refused too;
# everything else printable is allowed (emoji sequences keep their zero-width joiners).
_FORBIDDEN = re.compile(r"[/\\<>\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def normalise_label_name(name: str) -> str:
    """The name as stored: NFC, whitespace collapsed; raises ValidationError when unusable."""
    if not isinstance(name, str):
        raise ValidationError("a label name must be text")
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not cleaned:
        raise ValidationError("a label name cannot be empty")
    # Checked after collapsing whitespace: a pasted tab or newline is spacing, not an attack.
    if _FORBIDDEN.search(cleaned):
        raise ValidationError(
            f"label name {cleaned[:40]!r} contains / \\ < > or a control character; "
            "use letters, digits, spaces and simple punctuation"
        )
    if cleaned.startswith("."):
        raise ValidationError("a label name cannot start with a dot")
    if len(cleaned) > MAX_LABEL_NAME:
        raise ValidationError(f"a label name can have at most {MAX_LABEL_NAME} characters")
    if len(cleaned.casefold()) > MAX_LABEL_KEY:
        raise ValidationError(
            f"label name {cleaned[:40]!r} is too long once letters like ß or ﬁ are spelled out "
            f"for case-insensitive matching (ß → ss): shorten it"
        )
    return cleaned


def label_key(name: str) -> str:
    """Case- and space-insensitive identity of a label name (NFC again after case folding:
    folding can decompose a letter, e.g. "ῢ", and the key must be its own key)."""
    return unicodedata.normalize("NFC", normalise_label_name(name).casefold())


class LabelStore:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- labels ------------------------------------------------------------------------
    def create_label(
        self, name: str, *, description: str = "", hints: str = "", created_by: str = ""
    ) -> Label:
        clean = normalise_label_name(name)
        with self.catalog.session() as s:
            clash = s.scalars(select(LabelRow).where(LabelRow.name_key == label_key(clean))).first()
            if clash:
                raise ValidationError(f"a label named {clash.name!r} already exists")
            row = LabelRow(
                name=clean,
                name_key=label_key(clean),
                description=description.strip(),
                hints=hints.strip(),
                created_by=created_by,
            )
            s.add(row)
            s.flush()
            return _to_label(row)

    def labels(self) -> list[Label]:
        with self.catalog.read() as s:
            return [_to_label(r) for r in s.scalars(select(LabelRow).order_by(LabelRow.name))]

    def get_label(self, name: str) -> Label:
        with self.catalog.read() as s:
            return _to_label(self.label_row(s, name))

    def update_label(
        self, name: str, *, description: str | None = None, hints: str | None = None
    ) -> Label:
        with self.catalog.session() as s:
            row = self.label_row(s, name)
            if description is not None:
                row.description = description.strip()
            if hints is not None:
                row.hints = hints.strip()
            return _to_label(row)

    def delete_label(self, name: str) -> None:
        with self.catalog.session() as s:
            s.delete(self.label_row(s, name))

    # -- annotations -------------------------------------------------------------------
    def annotate(
        self,
        label: str,
        shot_id: str,
        value: bool | None,
        *,
        annotator: str,
        source: str = Source.SEARCH,
    ) -> Annotation:
        """Record one click (``None`` clears); returns it once it is durably stored."""
        return self.annotate_many(label, [(shot_id, value)], annotator=annotator, source=source)[0]

    def annotate_many(
        self,
        label: str,
        items: Iterable[tuple[str, bool | None]],
        *,
        annotator: str,
        source: str = Source.IMPORT,
        decision_ids: Sequence[str | None] | None = None,
    ) -> list[Annotation]:
        """One annotator's words on several shots of one label (:meth:`add_annotations`)."""
        return self.add_annotations(
            [Annotation(label, shot, value, annotator, source) for shot, value in items],
            decision_ids=decision_ids,
        )

    def import_annotations(self, annotations: list[Annotation]) -> int:
        """Store many annotations (any labels/annotators): :meth:`add_annotations`."""
        return len(self.add_annotations(annotations))

    def add_annotations(
        self,
        annotations: Sequence[Annotation],
        *,
        decision_ids: Sequence[str | None] | None = None,
    ) -> list[Annotation]:
        """Append annotations of any labels and annotators to the log, all or nothing, and
        return the rows written (ids, times), in order. Unknown labels or shots write nothing.

        ``decision_ids`` (one per annotation, the ids the card grid's browser gave its
        decisions): an annotation whose id is stored already is skipped — also when another
        request stores it at the same moment — so a decision sent again is written once.
        """
        if decision_ids is not None and len(decision_ids) != len(annotations):
            raise ValidationError(
                f"{len(decision_ids)} decision ids for {len(annotations)} decisions"
            )
        with self.catalog.session() as s:
            rows_of = {name: self.label_row(s, name) for name in {a.label for a in annotations}}
            _require_shots(s, {a.shot_id for a in annotations})
            rows = [
                AnnotationRow(
                    label_id=rows_of[a.label].id,
                    shot_id=a.shot_id,
                    value=None if a.value is None else bool(a.value),
                    annotator=_clean_annotator(a.annotator),
                    source=a.source or Source.IMPORT,
                    created_at=a.created_at or utcnow(),
                    decision_id=decision_id,
                )
                for a, decision_id in zip(
                    annotations, decision_ids or [None] * len(annotations), strict=True
                )
            ]
            if decision_ids is None:
                s.add_all(rows)
                s.flush()
                written = list(zip(annotations, rows, strict=True))
            else:
                written = [(a, r) for a, r in zip(annotations, rows) if _insert_once(s, r)]
            return [_to_annotation(rows_of[a.label].name, r) for a, r in written]

    def all_history(self) -> list[Annotation]:
        """Every annotation row of every label, oldest first."""
        with self.catalog.read() as s:
            q = select(*_ANNOTATION_COLUMNS, LabelRow.name).join(LabelRow)
            return [_annotation_of(row[-1], row) for row in s.execute(q.order_by(AnnotationRow.id))]

    def history(self, label: str) -> list[Annotation]:
        """Every annotation row of a label, oldest first (clears included, value None)."""
        with self.catalog.read() as s:
            label_row = self.label_row(s, label)
            q = (
                select(*_ANNOTATION_COLUMNS)
                .where(AnnotationRow.label_id == label_row.id)
                .order_by(AnnotationRow.id)
            )
            # Plain rows, not ORM objects: 5-10x faster at 100k rows (a label's whole log).
            return [_annotation_of(label_row.name, row) for row in s.execute(q)]

    def verdict_counts(self, label: str) -> tuple[int, int, int]:
        """``(positives, negatives, ties)`` of the label's shots by majority — what
        :meth:`labelled_set` counts, folded by the database from each annotator's latest row
        per shot (the grid shows it after every decision: it must not read the whole log)."""
        with self.catalog.read() as s:
            label_id = self.label_row(s, label).id
            latest = (
                select(func.max(AnnotationRow.id))
                .where(AnnotationRow.label_id == label_id)
                .group_by(AnnotationRow.shot_id, AnnotationRow.annotator)
            )
            votes = (
                select(
                    func.sum(case((AnnotationRow.value.is_(True), 1), else_=0)),
                    func.sum(case((AnnotationRow.value.is_(False), 1), else_=0)),
                )
                .where(AnnotationRow.id.in_(latest))
                .group_by(AnnotationRow.shot_id)
            )
            tally = [majority_of(int(p), int(n)) for p, n in s.execute(votes) if p or n]
        return tally.count(True), tally.count(False), tally.count(None)

    def current(self, label: str) -> list[Annotation]:
        """Each annotator's latest word per shot, cleared ones left out."""
        return current_words(self.history(label))

    def verdicts(self, label: str) -> list[ShotVerdict]:
        """Every shot anyone has a current word on, with its majority."""
        return shot_verdicts(self.history(label))

    def labelled_set(self, label: str) -> TrainingSet:
        shots = self.verdicts(label)
        return TrainingSet(
            positives=sorted(v.shot_id for v in shots if v.value is True),
            negatives=sorted(v.shot_id for v in shots if v.value is False),
            ties=sorted(v.shot_id for v in shots if v.value is None),
            conflicts=[v for v in shots if v.conflict],
            annotators=sorted({a for v in shots for a in v.votes}),
        )

    def count_annotations(self, label: str | None = None) -> int:
        with self.catalog.read() as s:
            q = select(func.count()).select_from(AnnotationRow)
            if label is not None:
                q = q.where(AnnotationRow.label_id == self.label_row(s, label).id)
            return int(s.scalar(q) or 0)

    # -- annotator roles of imported labels -------------------------------------------
    def annotator_roles(self) -> dict[str, tuple[str | None, tuple[str, ...]]]:
        """Per imported label (a Netflix VA file names them), its primary annotator and the
        secondaries: ``{label: (primary, secondaries)}``."""
        raw = json.loads(self.catalog.get_meta(NETFLIX_ANNOTATOR_ROLES, "{}") or "{}")
        return {label: (r["primary"], tuple(r["secondaries"])) for label, r in raw.items()}

    def record_annotator_roles(
        self, label: str, primary: str | None, secondaries: Sequence[str]
    ) -> None:
        """Remember ``label``'s annotator roles (kept beside the other imported labels')."""
        raw = json.loads(self.catalog.get_meta(NETFLIX_ANNOTATOR_ROLES, "{}") or "{}")
        raw[label] = {"primary": primary, "secondaries": list(secondaries)}
        self.catalog.set_meta(NETFLIX_ANNOTATOR_ROLES, json.dumps(raw, sort_keys=True))

    @staticmethod
    def label_row(s: Session, name: str, *, for_update: bool = False) -> LabelRow:
        """The label's row in session ``s`` (for stores that join on labels, e.g. model
        versions); ``for_update`` locks it until ``s`` commits (PostgreSQL; SQLite's writers
        are serialised anyway), so concurrent writers of one label take turns."""
        q = select(LabelRow).where(LabelRow.name_key == label_key(name))
        row = s.scalars(q.with_for_update() if for_update else q).first()
        if row is None:
            raise NotFoundError(f"no label named {name!r}; create it first (labels create)")
        return row


def majority_of(positives: int, negatives: int) -> bool | None:
    """:func:`va_app.domain.majority` from the counts of positive and negative words."""
    return None if positives == negatives else positives > negatives


def _insert_once(s: Session, row: AnnotationRow) -> bool:
    """Insert ``row`` unless its decision id is stored; sets ``row.id``, returns whether it
    was written. ``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL): a concurrent writer of
    the same id makes this one wait for its commit and then skip, never fail."""
    insert = _DIALECT_INSERT.get(s.get_bind().dialect.name)
    if insert is None:  # another database: no race-free skip, but the same result alone
        taken = select(AnnotationRow.id).where(AnnotationRow.decision_id == row.decision_id)
        if row.decision_id is not None and s.scalar(taken) is not None:
            return False
        s.add(row)
        s.flush()
        return True
    table = AnnotationRow.__table__
    assert isinstance(table, Table)
    values = {c.key: getattr(row, c.key) for c in table.columns if c.key != "id"}
    stmt = (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["decision_id"])
        .returning(AnnotationRow.id)
    )
    written = s.execute(stmt).scalar()
    if written is None:
        return False
    row.id = written
    return True


def _require_shots(s, shot_ids: set[str]) -> None:
    found: set[str] = set()
    ids = list(shot_ids)
    for start in range(0, len(ids), 500):
        found.update(s.scalars(select(ShotRow.id).where(ShotRow.id.in_(ids[start : start + 500]))))
    missing = shot_ids - found
    if missing:
        sample = ", ".join(sorted(missing)[:3])
        raise ValidationError(f"{len(missing)} unknown shot id(s), e.g. {sample}: nothing saved")


def _clean_annotator(name: str) -> str:
    clean = " ".join(str(name).split())
    if not clean or _FORBIDDEN.search(clean):
        raise ValidationError("say who you are: an annotator name is needed (no / \\ < >)")
    return clean[:200]


def _to_label(row: LabelRow) -> Label:
    return Label(row.id, row.name, row.description, row.hints, row.created_by, row.created_at)


_ANNOTATION_COLUMNS = (
    AnnotationRow.id,
    AnnotationRow.shot_id,
    AnnotationRow.value,
    AnnotationRow.annotator,
    AnnotationRow.source,
    AnnotationRow.created_at,
)


def _annotation_of(label: str, row) -> Annotation:
    """An :class:`Annotation` from a row of :data:`_ANNOTATION_COLUMNS`."""
    id_, shot_id, value, annotator, source, created_at = row[:6]
    return Annotation(label, shot_id, value, annotator, source, created_at, id_)


def _to_annotation(label: str, row: AnnotationRow) -> Annotation:
    return Annotation(
        label=label,
        shot_id=row.shot_id,
        value=row.value,
        annotator=row.annotator,
        source=row.source,
        created_at=row.created_at,
        id=row.id,
    )
