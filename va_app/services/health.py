"""Checking a corpus and repairing its derived data: ``python -m va_app check [--repair]``,
and what the app says on open (:mod:`va_app.ui.health`).

The checks and repairs themselves are :mod:`va_app.store.health`; here they are wired for the
entrypoints: the check reads only (anyone may run it), a repair is an ingest-grade action (the
``ingest`` permission, the ingest lock held so nothing else writes meanwhile, one event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from va_app.config import Settings
from va_app.learn.classifier import ShotClassifier
from va_app.learn.versions import load_model
from va_app.services.access import AccessPolicy, Action, User
from va_app.store.health import HealthReport, ModelLoaders, Problem, check_corpus, repair_corpus

#: The learning code's loaders, for the store's check of model versions and files.
MODELS = ModelLoaders(from_params=ShotClassifier.from_dict, from_file=load_model)

__all__ = ["HealthReport", "Problem", "RepairOutcome", "check", "repair"]


@dataclass(frozen=True)
class RepairOutcome:
    done: list[str]  # what was rebuilt, one line each
    after: HealthReport  # the check run again afterwards


def check(settings: Settings, *, quick: bool = False) -> HealthReport:
    """Every store of the corpus checked against the others (``quick``: what costs little at
    any size — what the app runs on open); changes nothing."""
    return check_corpus(settings, quick=quick, models=MODELS)


def repair(
    settings: Settings, *, user: User, progress: Callable[[str], None] | None = None
) -> RepairOutcome:
    """Rebuild what is derived (index, thumbnails, previews) where the check finds it broken;
    the check is run again after, and its remaining problems point at ``restore``."""
    from va_app.store.corpus import ingest_lock

    AccessPolicy.from_settings(settings).require(user, Action.INGEST)
    with ingest_lock(settings):
        done = repair_corpus(settings, check_corpus(settings, models=MODELS), progress=progress)
        after = check_corpus(settings, models=MODELS)
    if done and not any(p.blocks_app for p in after.problems):
        _log(settings, user, done)
    return RepairOutcome(done, after)


def _log(settings: Settings, user: User, done: list[str]) -> None:
    from va_app.services.unit_of_work import SqlUnitOfWork
    from va_app.store.catalog import Catalog

    catalog = Catalog(settings.sql_url)
    try:
        with SqlUnitOfWork(catalog) as uow:
            uow.events.add("repaired", actor=user.annotator, payload={"done": done})
    finally:
        catalog.close()
