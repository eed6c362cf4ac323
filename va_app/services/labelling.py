"""Actions on labels and annotations: create, edit and delete a label; record decisions;
import and export annotation files.

Each action is one unit of work: the access check (once, for the acting ``user``), the change
and its line in the activity log commit together or not at all. Every annotation — a key in
the card grid, a button, a bulk selection, an undo, a row of an imported file — is written by
one function, :meth:`Labelling._write`: one access check per owner of the words, one store
call, one event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from va_app.domain import Annotation, Label, Source
from va_app.errors import NotFoundError, ValidationError
from va_app.services.access import AccessPolicy, Action, User
from va_app.services.unit_of_work import UnitOfWork


class Labelling:
    """The label and annotation actions of one corpus."""

    def __init__(self, uow: Callable[[], UnitOfWork], policy: AccessPolicy) -> None:
        self._uow = uow
        self._policy = policy

    # -- labels ------------------------------------------------------------------------------
    def create_label(
        self,
        user: User,
        name: str,
        *,
        description: str = "",
        hints: str = "",
        created_by: str | None = None,
    ) -> Label:
        """A new label; ``created_by`` (who it is credited to) defaults to ``user``."""
        self._policy.require(user, Action.CREATE_LABEL)
        with self._uow() as uow:
            return self._create(uow, user, name, description, hints, created_by)

    def edit_label(
        self, user: User, name: str, *, description: str | None = None, hints: str | None = None
    ) -> Label:
        """Change a label's guidelines (description) and search hints; None keeps a field."""
        self._policy.require(user, Action.EDIT_LABEL)
        with self._uow() as uow:
            before = uow.labels.get_label(name)
            label = uow.labels.update_label(name, description=description, hints=hints)
            changed = [
                f for f in ("description", "hints") if getattr(before, f) != getattr(label, f)
            ]
            uow.events.add(
                "label_edited",
                actor=user.annotator,
                payload={"label": label.name, "changed": changed},
            )
        return label

    def delete_label(self, user: User, name: str) -> None:
        """Delete a label with all its annotations and model versions."""
        self._policy.require(user, Action.DELETE_LABEL)
        with self._uow() as uow:
            label = uow.labels.get_label(name)
            uow.labels.delete_label(label.name)
            uow.events.add("label_deleted", actor=user.annotator, payload={"label": label.name})

    # -- annotations ---------------------------------------------------------------------------
    def record(
        self,
        user: User,
        label: str,
        decisions: Sequence[tuple[str, bool | None]],
        *,
        source: str,
        annotator: str | None = None,
        decision_ids: Sequence[str | None] | None = None,
    ) -> list[Annotation]:
        """Write ``(shot id, value)`` decisions on ``label`` as ``annotator`` (default:
        ``user``; value True positive, False negative, None cleared), in one transaction;
        returns the rows written. Every decision, bulk ones and undos too, is one row of the
        append-only log (annotator, source, time).

        ``decision_ids`` (one per decision, the card grid browser's ids): a decision whose id
        is stored already is skipped, so one sent again — after a reload, a restarted server,
        a lost confirmation — is written once.
        """
        who = user.annotator if annotator is None else annotator
        if not who.strip():
            raise ValidationError("say who you are (sidebar) before labelling")
        rows = [Annotation(label, shot_id, value, who, source) for shot_id, value in decisions]
        payload = _annotate_payload(label, source)
        with self._uow() as uow:
            return self._write(uow, user, rows, "annotate", payload, decision_ids=decision_ids)

    def import_file(
        self,
        user: User,
        path: str | Path,
        *,
        fmt: str | None = None,
        label: str | None = None,
        create_labels: bool = False,
    ) -> int:
        """Read an annotation file (CSV / Parquet / JSON, or ``fmt="netflix"``: a Netflix VA
        per-label file into ``label``) and store it all or nothing, with the labels it needs
        (``create_labels``; a Netflix file always creates its label)."""
        from va_app.formats import annotations as files  # pandas: only when files are read

        if fmt == "netflix":
            parsed = files.read_netflix_agg(path, label=label)
            rows, new = parsed.annotations, {parsed.label: parsed.primary or Source.IMPORT}
        else:
            rows = files.read_annotations(path)
            new = dict.fromkeys((a.label for a in rows), Source.IMPORT) if create_labels else {}
        payload = {"file": Path(path).name, "format": fmt or "table"}
        with self._uow() as uow:
            for name, created_by in new.items():
                if not _exists(uow, name):
                    self._policy.require(user, Action.CREATE_LABEL)
                    self._create(uow, user, name, "", "", created_by)
            stored = self._write(uow, user, rows, "annotations_imported", payload)
        return len(stored)

    def export_file(
        self, user: User, out: str | Path, *, fmt: str | None = None, label: str | None = None
    ) -> int:
        """Write annotations to ``out`` — every click (CSV / Parquet / JSON), or with
        ``fmt="netflix"`` one label's current words as a Netflix VA file; returns the rows or
        shots written."""
        from va_app.formats import annotations as files  # pandas: only when files are written

        self._policy.require(user, Action.EXPORT)
        with self._uow() as uow:
            if fmt == "netflix":
                if not label:
                    raise ValidationError("--format netflix exports one label: add --label NAME")
                meta = uow.labels.get_label(label)
                votes = {v.shot_id: v.votes for v in uow.labels.verdicts(meta.name)}
                roles = uow.labels.annotator_roles().get(meta.name)
                n = files.write_netflix_agg(meta, votes, out, roles=roles)
            else:
                history = uow.labels.history(label) if label else uow.labels.all_history()
                n = files.write_annotations(history, out, fmt=fmt)
            kind = fmt or Path(out).suffix.lstrip(".")
            payload = {"label": label, "count": n, "format": kind}
            uow.events.add("annotations_exported", actor=user.annotator, payload=payload)
        return n

    # -- the one write path --------------------------------------------------------------------
    def _write(
        self,
        uow: UnitOfWork,
        user: User,
        rows: Sequence[Annotation],
        kind: str,
        payload: dict,
        *,
        decision_ids: Sequence[str | None] | None = None,
    ) -> list[Annotation]:
        """Store ``rows`` (any labels and annotators) and log one ``kind`` event.

        Words under another person's name need ``annotate_others`` (admins), as the role table
        says; an unknown label or shot writes nothing. Rows whose decision id is stored already
        are skipped; when nothing is left to write, nothing is logged either.
        """
        for owner in sorted({row.annotator for row in rows}) or [user.annotator]:
            self._policy.require(user, Action.ANNOTATE, owner=owner)
        if not rows:
            return []
        stored = uow.labels.add_annotations(rows, decision_ids=decision_ids)
        if stored:  # a batch sent again writes nothing and logs nothing
            uow.events.add(kind, actor=user.annotator, payload=_event_payload(payload, stored))
        return stored

    def _create(
        self,
        uow: UnitOfWork,
        user: User,
        name: str,
        description: str,
        hints: str,
        created_by: str | None,
    ) -> Label:
        credited = user.annotator if created_by is None else created_by
        label = uow.labels.create_label(
            name, description=description, hints=hints, created_by=credited
        )
        uow.events.add("label_created", actor=credited, payload={"label": label.name})
        return label


def _exists(uow: UnitOfWork, label: str) -> bool:
    try:
        uow.labels.get_label(label)
    except NotFoundError:
        return False
    return True


def _annotate_payload(label: str, source: str) -> dict:
    return {"label": label, "source": source}


def _event_payload(payload: dict, stored: Sequence[Annotation]) -> dict:
    """The event of a click (its shot and value) or of a batch (how many)."""
    out = {**payload, "count": len(stored)}
    if "label" in out and stored:
        out["label"] = stored[0].label
    if len(stored) == 1 and "source" in out:
        out |= {"shot_id": stored[0].shot_id, "value": stored[0].value}
    return out
