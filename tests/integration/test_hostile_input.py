"""Hostile input: every bad file, name, query or model gets a clear message and changes nothing.

One table of cases (ids name them). Each case runs against a private copy of a real corpus
(two ingested videos, labels, annotations, an exported model file) and must

- end in a message a user can act on: a ``VAError`` subclass with a one-line message, an
  ingest report that lists the file as skipped with its reason, or — through the CLI — a
  non-zero exit with one ``error:`` line and no traceback; and
- leave everything already stored as it was: videos, shots, labels, the annotation history,
  model versions, corpus facts, the h5 matrix (ids and bytes) and the Chroma ids are compared
  before and after. The few inputs that are *accepted* (a Markdown label name, emoji queries)
  may only add what they were asked to add.

The table runs on a SQLite catalog and on a PostgreSQL one (each case in a copy of the
template database).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TESTER, open_services
from tests.videogen import (
    make_audio_only,
    make_cut_video,
    make_empty_file,
    make_text_file,
    make_truncated_video,
    make_unknown_codec_video,
)
from va_app.config import Settings
from va_app.encoders import make_encoder
from va_app.errors import (
    EncoderMismatchError,
    NotFoundError,
    StoreError,
    VAError,
    ValidationError,
)
from va_app.ingest import ingest
from va_app.learn.versions import PortableModel, load_model
from va_app.search.shots import ShotSearch, validate_query
from va_app.services.bootstrap import Services
from va_app.store import meta
from va_app.store.corpus import Corpus
from va_app.store.labels import LabelStore
from va_app.store.matrix import EmbeddingMatrix
from va_app.store.schema import ModelVersionRow

ROOT = Path(__file__).resolve().parents[2]
CUTS = [0, 30, 75, 120]
# Titles in other scripts, so non-Latin and emoji queries have something to find.
METADATA = (
    "file,title,genre,tags\n"
    "clip_00.mp4,夜の街 🌃,ночь,городской;🌙\n"
    "clip_01.mp4,Beach at noon,day,sun\n"
)
LABEL, OTHER_LABEL = "night", "day"
pytestmark = pytest.mark.both_backends


@dataclass(frozen=True)
class Env:
    settings: Settings
    scratch: Path  # where a case writes its hostile files
    model_file: Path  # a valid exported model for LABEL


@dataclass(frozen=True)
class Template:
    root: Path  # data/ (the corpus), videos/, night.vamodel.json
    database: str  # the PostgreSQL database to copy per case ("" on SQLite)


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Env], None]
    grows: tuple[str, ...] = ()  # snapshot parts the case may add to (never change)


# -- the stored corpus -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory, sql_backend, request) -> Template:
    root = tmp_path_factory.mktemp("hostile-template")
    videos = root / "videos"
    for i in range(2):
        make_cut_video(videos / f"clip_{i:02d}.mp4", cuts=CUTS, seed=i)
    (videos / "metadata.csv").write_text(METADATA, encoding="utf-8")
    database = ""
    if sql_backend == "postgresql":
        database = request.getfixturevalue("postgres").new_database()
    settings = _settings(root / "data", _database_url(request, database))
    report = ingest(settings, videos)
    assert report.added_shots == 6 and not report.skipped
    ws = open_services(settings)
    try:
        ws.labelling.create_label(TESTER, LABEL, description="dark sky", created_by="ana")
        ws.labelling.create_label(TESTER, OTHER_LABEL, created_by="ana")
        shots = ws.corpus.catalog.shot_ids()
        for i, shot_id in enumerate(shots):
            ws.uow().labels.annotate(LABEL, shot_id, i < 3, annotator="ana")
        ws.uow().labels.annotate(LABEL, shots[0], None, annotator="bo", source="review")
        _model(ws, LABEL).save(root / "night.vamodel.json")
    finally:
        ws.close()  # no connection may stay open: the database is copied per case
    return Template(root, database)


def _settings(data_dir: Path, database_url: str = "") -> Settings:
    return Settings(
        data_dir=data_dir, encoder="descriptor", database_url=database_url
    ).with_data_dir(data_dir)


def _database_url(request, database: str) -> str:
    return request.getfixturevalue("postgres").url(database) if database else ""


def _model(
    ws: Services, label: str, *, encoder_id: str | None = None, dim: int | None = None
) -> PortableModel:
    width = dim or ws.view.matrix.X.shape[1]
    return PortableModel(
        label=label,
        version=1,
        encoder_id=encoder_id or ws.view.matrix.encoder_id,
        coef=np.linspace(-1, 1, width, dtype=np.float32),
        intercept=0.0,
        metrics={},
        fingerprint="",
    )


@pytest.fixture
def env(template, tmp_path, request) -> Iterator[Env]:
    data_dir = tmp_path / "data"
    shutil.copytree(template.root / "data", data_dir)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    database = ""
    if template.database:
        database = request.getfixturevalue("postgres").new_database(template=template.database)
    yield Env(
        _settings(data_dir, _database_url(request, database)),
        scratch,
        template.root / "night.vamodel.json",
    )
    if database:
        request.getfixturevalue("postgres").drop_database(database)


def snapshot(settings: Settings) -> dict[str, object]:
    """Everything stored, as comparable values (opened without any repair)."""
    corpus = Corpus(settings)
    try:
        catalog, store = corpus.catalog, LabelStore(corpus.catalog)
        ids, matrix = corpus.matrix.load()
        return {
            "videos": [
                (v.id, v.key, v.path, v.fingerprint, v.status) for v in catalog.videos(status=None)
            ],
            "shots": catalog.shot_ids(ready_only=False),
            "clusters": sorted(catalog.clusters().items()),
            "labels": [(label.name, label.description) for label in store.labels()],
            "annotations": [
                (a.id, a.label, a.shot_id, a.value, a.annotator, a.source, a.created_at)
                for a in store.all_history()
            ],
            "model_versions": catalog.count_rows(ModelVersionRow),
            "meta": (catalog.get_meta(meta.ENCODER_ID), catalog.corpus_version()),
            "h5": (ids, corpus.matrix.info(), hashlib.sha1(matrix.tobytes()).hexdigest()),
            "chroma": sorted(corpus.index.ids()),
        }
    finally:
        corpus.close()


# -- assertions ------------------------------------------------------------------------------
def refused(call: Callable[[], object], error: type[VAError], *phrases: str) -> str:
    """``call`` raises ``error`` with a one-line message naming every phrase; returns it."""
    with pytest.raises(error) as caught:
        call()
    return readable(str(caught.value), *phrases)


def readable(message: str, *phrases: str) -> str:
    assert "\n" not in message.strip() and "Traceback" not in message, message
    assert 10 <= len(message) <= 600, message
    for phrase in phrases:
        assert phrase.casefold() in message.casefold(), (phrase, message)
    return message


def skipped_by_ingest(env: Env, name: str, *phrases: str) -> None:
    """Ingest of a folder holding only ``name`` skips it with a reason and adds nothing."""
    folder = env.scratch / "incoming"
    report = ingest(env.settings, folder)
    assert report.added_videos == [] and report.added_shots == 0
    assert [Path(s.path).name for s in report.skipped] == [name]
    readable(report.skipped[0].reason, *phrases)


def cli(env: Env, *args: str, **extra_env: str) -> str:
    """Run ``python -m va_app``; it must fail with exactly one ``error:`` line; returns it."""
    run_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VA_DATA_DIR": str(env.settings.data_dir),
        "VA_ENCODER": "descriptor",
        "VA_DATABASE_URL": env.settings.database_url,
        **extra_env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "va_app", *args],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def _services_call(env: Env, action: Callable[[Services], object]) -> Callable[[], object]:
    def call() -> object:
        ws = open_services(env.settings)
        try:
            return action(ws)
        finally:
            ws.close()

    return call


def _write(env: Env, name: str, data: str | bytes) -> Path:
    path = env.scratch / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


# -- cases: video files and folders ----------------------------------------------------------
def zero_byte_video(env: Env) -> None:
    make_empty_file(env.scratch / "incoming" / "empty.mp4")
    skipped_by_ingest(env, "empty.mp4", "empty", "0 bytes")


def truncated_video(env: Env) -> None:
    make_truncated_video(env.scratch / "incoming" / "cut.mp4", keep_fraction=0.4, faststart=False)
    skipped_by_ingest(env, "cut.mp4", "not a video", "damaged")


def renamed_text_file(env: Env) -> None:
    make_text_file(env.scratch / "incoming" / "notes.mp4")
    skipped_by_ingest(env, "notes.mp4", "not a video")


def audio_only_file(env: Env) -> None:
    make_audio_only(env.scratch / "incoming" / "song.mp4")
    skipped_by_ingest(env, "song.mp4", "no video stream", "audio")


def unsupported_codec(env: Env) -> None:
    # An H.264 mp4 whose codec tag is rewritten to one no FFmpeg decoder knows.
    make_unknown_codec_video(env.scratch / "incoming" / "alien.mp4", cuts=[0, 30, 60], seed=7)
    skipped_by_ingest(env, "alien.mp4", "unsupported video codec", "re-encode")


def folder_that_does_not_exist(env: Env) -> None:
    refused(
        lambda: ingest(env.settings, env.scratch / "nope"), NotFoundError, "does not exist", "nope"
    )


def folder_that_is_a_file(env: Env) -> None:
    path = _write(env, "list.txt", "clip.mp4\n")
    refused(lambda: ingest(env.settings, path), ValidationError, "not a folder")


def folder_that_cannot_be_read(env: Env) -> None:
    folder = env.scratch / "locked"
    make_cut_video(folder / "secret.mp4", cuts=[0, 30, 60], seed=6)
    folder.chmod(0)
    try:
        if os.access(folder, os.R_OK):
            pytest.skip("running as root: folder permissions do not apply")
        refused(lambda: ingest(env.settings, folder), ValidationError, "permission denied")
    finally:
        folder.chmod(0o755)


def folder_with_bad_metadata_csv(env: Env) -> None:
    folder = env.scratch / "incoming"
    make_cut_video(folder / "new.mp4", cuts=[0, 30, 60], seed=8)
    _write(env, "incoming/metadata.csv", "name;title\nnew.mp4;New\n")
    refused(lambda: ingest(env.settings, folder), VAError, "metadata.csv", "file,title")


# -- cases: search queries -------------------------------------------------------------------
def _search(env: Env, query: str):
    def action(ws: Services):
        search = ShotSearch.from_corpus(ws.corpus, ws.view.matrix)
        return search.search_text(query, make_encoder(env.settings), 10)

    return _services_call(env, action)


def empty_query(env: Env) -> None:
    refused(_search(env, ""), ValidationError, "type something")


def whitespace_query(env: Env) -> None:
    refused(_search(env, " \t\n\u3000 "), ValidationError, "type something")


def ten_thousand_character_query(env: Env) -> None:
    refused(_search(env, "night " * 1667), ValidationError, "at most 1,000 characters", "shorten")


def non_latin_query(env: Env) -> None:
    assert validate_query("  夜の街   НОЧЬ ") == "夜の街 НОЧЬ"
    result = _search(env, "夜の街 НОЧЬ")()  # title in Japanese, genre in Russian (case-folded)
    assert {hit.shot_id.split("|")[0] for hit in result.hits} == {"clip_00"}
    assert len(result.hits) == 3


def emoji_query(env: Env) -> None:
    for query in ("🌃", "🌙", "🌃🌙🚗"):
        validate_query(query)
    hits = _search(env, "🌙")().hits  # a tag
    assert {hit.shot_id.split("|")[0] for hit in hits} == {"clip_00"}
    assert _search(env, "🚗🚗")().hits == []  # nothing has it: no hits, no error


# -- cases: label names ----------------------------------------------------------------------
def _create_label(env: Env, name: str):
    return _services_call(
        env, lambda ws: ws.labelling.create_label(TESTER, name, created_by="mallory")
    )


def label_with_dot_dot_slash(env: Env) -> None:
    refused(_create_label(env, "../../etc/passwd"), ValidationError, "contains /")


def label_with_slash(env: Env) -> None:
    refused(_create_label(env, "cars/trucks"), ValidationError, "contains /")


def label_with_nul(env: Env) -> None:
    refused(_create_label(env, "night\x00shift"), ValidationError, "control character")


def label_with_script_tag(env: Env) -> None:
    refused(_create_label(env, "<script>alert(1)</script>"), ValidationError, "< >")


def label_with_markdown(env: Env) -> None:
    created = _create_label(env, "**bold** _car_ [chase](#x) `code`")()
    assert created.name == "**bold** _car_ [chase](#x) `code`"  # stored as typed
    again = _services_call(
        env, lambda ws: ws.uow().labels.get_label("**BOLD**  _car_ [chase](#x) `code`")
    )
    assert again().name == created.name


def label_differing_in_case_and_space(env: Env) -> None:
    for twin in ("NIGHT", "  Night ", "night\u00a0", "\tnIgHt\n"):
        refused(_create_label(env, twin), ValidationError, "already exists", LABEL)


# -- cases: annotation files -----------------------------------------------------------------
def _import(env: Env, path: Path):
    return _services_call(env, lambda ws: ws.labelling.import_file(TESTER, path))


def csv_with_unknown_shot_ids(env: Env) -> None:
    path = _write(
        env,
        "unknown.csv",
        f"label,shot_id,value,annotator\n{LABEL},clip_00|0,1,cy\n{LABEL},ghost|99,0,cy\n",
    )
    refused(_import(env, path), ValidationError, "unknown shot id", "ghost|99", "nothing saved")


def csv_with_bad_values(env: Env) -> None:
    path = _write(
        env,
        "values.csv",
        f"label,shot_id,value,annotator\n{LABEL},clip_00|0,yes,cy\n{LABEL},clip_00|30,maybe,cy\n",
    )
    refused(_import(env, path), ValidationError, "row 3", "maybe", "nothing was imported")


def csv_with_missing_columns(env: Env) -> None:
    path = _write(env, "columns.csv", f"label,shot_id,value\n{LABEL},clip_00|0,1\n")
    refused(_import(env, path), ValidationError, "missing column", "annotator")


def csv_in_latin_1(env: Env) -> None:
    text = f"label,shot_id,value,annotator\n{LABEL},clip_00|0,1,José Müller\n"
    path = _write(env, "latin1.csv", text.encode("latin-1"))
    refused(_import(env, path), ValidationError, "not UTF-8", "save it as UTF-8")


def csv_for_a_label_that_does_not_exist(env: Env) -> None:
    path = _write(env, "label.csv", "label,shot_id,value,annotator\nsunset,clip_00|0,1,cy\n")
    refused(_import(env, path), NotFoundError, "sunset", "create it first")


def csv_that_is_empty(env: Env) -> None:
    refused(_import(env, _write(env, "empty.csv", "")), ValidationError, "could not be read")


# -- cases: embeddings, encoders, model files ------------------------------------------------
def embeddings_of_the_wrong_dimension(env: Env) -> None:
    matrix = EmbeddingMatrix(env.settings.embeddings_path)
    encoder_id = matrix.info()[2]
    refused(
        lambda: matrix.append(["clip_00|999"], np.ones((1, 8)), encoder_id=encoder_id),
        StoreError,
        "8-d",
        "another encoder",
    )


def embeddings_of_another_encoder(env: Env) -> None:
    matrix = EmbeddingMatrix(env.settings.embeddings_path)
    rows, dim, _ = matrix.info()
    refused(
        lambda: matrix.append(["clip_00|999"], np.ones((1, dim)), encoder_id="other:v1"),
        EncoderMismatchError,
        "other:v1",
        "VA_DATA_DIR",
    )


class _OtherEncoder:
    """A real encoder of another kind: 8-d colour means, no text tower."""

    id, dim, has_text, frames_per_shot = "other:v1", 8, False, 1

    def encode_shots(self, shots: list[np.ndarray]) -> np.ndarray:
        return np.stack([np.resize(s.reshape(-1, 3).mean(0), 8) + 1.0 for s in shots])


def ingest_with_another_encoder(env: Env) -> None:
    folder = env.scratch / "incoming"
    make_cut_video(folder / "new.mp4", cuts=[0, 30, 60], seed=9)
    refused(
        lambda: ingest(env.settings, folder, encoder=_OtherEncoder()),
        EncoderMismatchError,
        "descriptor:v2",
        "other:v1",
    )


def _score(env: Env, label: str, model_file: Path):
    return _services_call(env, lambda ws: ws.modelling.score(TESTER, label, model_file=model_file))


def corrupt_model_file(env: Env) -> None:
    garbage = _write(env, "garbage.vamodel.json", b"\x89PNG\r\n\x1a\n\x00\x00 not json")
    refused(_score(env, LABEL, garbage), ValidationError, "not a Video Annotator model file")
    half = env.model_file.read_bytes()
    cut = _write(env, "cut.vamodel.json", half[: len(half) // 2])
    refused(_score(env, LABEL, cut), ValidationError, "not a Video Annotator model file")


def model_file_for_another_label(env: Env) -> None:
    refused(
        _score(env, OTHER_LABEL, env.model_file),
        ValidationError,
        f"model for {LABEL!r}",
        f"not {OTHER_LABEL!r}",
    )
    refused(lambda: load_model(env.model_file, label="sunset"), ValidationError, "sunset")


def model_file_of_another_encoder(env: Env) -> None:
    def save_foreign(ws: Services) -> Path:
        return _model(ws, LABEL, encoder_id="open_clip:ViT-B-32/openai").save(
            env.scratch / "clip.vamodel.json"
        )

    foreign = _services_call(env, save_foreign)()
    refused(_score(env, LABEL, foreign), EncoderMismatchError, "meaningless")


def model_file_of_another_dimension(env: Env) -> None:
    narrow = _services_call(
        env, lambda ws: _model(ws, LABEL, dim=8).save(env.scratch / "narrow.vamodel.json")
    )()
    refused(_score(env, LABEL, narrow), ValidationError, "expects (N, 8)")


def model_file_that_does_not_exist(env: Env) -> None:
    refused(_score(env, LABEL, env.scratch / "gone.vamodel.json"), NotFoundError, "does not exist")


# -- cases: the command line -----------------------------------------------------------------
def cli_ingest_missing_folder(env: Env) -> None:
    readable(cli(env, "ingest", str(env.scratch / "nope")), "does not exist")


def cli_import_latin_1_csv(env: Env) -> None:
    text = f"label,shot_id,value,annotator\n{LABEL},clip_00|0,1,Zoë\n"
    path = _write(env, "latin1.csv", text.encode("latin-1"))
    readable(cli(env, "annotations", "import", str(path)), "not UTF-8")


def cli_label_with_path_and_html(env: Env) -> None:
    readable(cli(env, "labels", "create", "../<b>x</b>"), "contains /")


def cli_score_with_corrupt_model(env: Env) -> None:
    garbage = _write(env, "garbage.vamodel.json", '{"format": "video-annotator-model/1"')
    out = env.scratch / "scores.csv"
    readable(cli(env, "score", "--model", str(garbage), "--out", str(out)), "model file")
    assert not out.exists()


CASES = [
    Case("zero-byte-video", zero_byte_video),
    Case("truncated-video", truncated_video),
    Case("renamed-text-file", renamed_text_file),
    Case("audio-only-file", audio_only_file),
    Case("unsupported-codec", unsupported_codec),
    Case("folder-missing", folder_that_does_not_exist),
    Case("folder-is-a-file", folder_that_is_a_file),
    Case("folder-unreadable", folder_that_cannot_be_read),
    Case("folder-bad-metadata-csv", folder_with_bad_metadata_csv),
    Case("query-empty", empty_query),
    Case("query-whitespace", whitespace_query),
    Case("query-10000-chars", ten_thousand_character_query),
    Case("query-non-latin", non_latin_query),
    Case("query-emoji", emoji_query),
    Case("label-dot-dot-slash", label_with_dot_dot_slash),
    Case("label-slash", label_with_slash),
    Case("label-nul", label_with_nul),
    Case("label-script-tag", label_with_script_tag),
    Case("label-markdown", label_with_markdown, grows=("labels",)),
    Case("label-case-space-twin", label_differing_in_case_and_space),
    Case("csv-unknown-shot-ids", csv_with_unknown_shot_ids),
    Case("csv-bad-values", csv_with_bad_values),
    Case("csv-missing-columns", csv_with_missing_columns),
    Case("csv-latin-1", csv_in_latin_1),
    Case("csv-unknown-label", csv_for_a_label_that_does_not_exist),
    Case("csv-empty", csv_that_is_empty),
    Case("embeddings-wrong-dimension", embeddings_of_the_wrong_dimension),
    Case("embeddings-other-encoder", embeddings_of_another_encoder),
    Case("ingest-other-encoder", ingest_with_another_encoder),
    Case("model-corrupt", corrupt_model_file),
    Case("model-other-label", model_file_for_another_label),
    Case("model-other-encoder", model_file_of_another_encoder),
    Case("model-other-dimension", model_file_of_another_dimension),
    Case("model-missing", model_file_that_does_not_exist),
    Case("cli-ingest-missing-folder", cli_ingest_missing_folder),
    Case("cli-import-latin-1", cli_import_latin_1_csv),
    Case("cli-label-path-html", cli_label_with_path_and_html),
    Case("cli-score-corrupt-model", cli_score_with_corrupt_model),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_gets_a_clear_message_and_changes_nothing(case: Case, env: Env):
    before = snapshot(env.settings)
    case.run(env)
    after = snapshot(env.settings)
    for part, was in before.items():
        now = after[part]
        if part in case.grows:
            assert set(was) < set(now), f"{case.id}: {part} should have grown"
        else:
            assert now == was, f"{case.id} changed the stored {part}"


def test_the_table_covers_the_issue():
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)
