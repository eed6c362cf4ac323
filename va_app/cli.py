"""``python -m va_app <command>`` — one entry point for every batch job.

Each command: ``--help``, ``--data-dir`` (or ``VA_DATA_DIR``), a progress bar on long work,
and on error one line on stderr and a non-zero exit. ``--json`` output is a contract that
other tools read: change it only by adding keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from va_app.config import Settings
from va_app.errors import VAError, ValidationError

Handler = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, tuple[Handler, str, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None]):
    def register(handler: Handler) -> Handler:
        _COMMANDS[name] = (handler, help_text, arguments)
        return handler

    return register


def _no_args(_parser: argparse.ArgumentParser) -> None:
    return None


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _emit(args: argparse.Namespace, data: Any, text: str | Iterable[str] = ()) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text`` (a string or lines; none: nothing).

    ``text`` may be a generator: it is only read without ``--json``.
    """
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
        return
    lines = [text] if isinstance(text, str) else list(text)
    if lines:
        print("\n".join(lines))


# -- commands ------------------------------------------------------------------------------
def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shots", type=int, default=None, help="number of shots (default VA_DEMO_SHOTS = 400)"
    )
    p.add_argument(
        "--first-run",
        action="store_true",
        help="what ./run_app.sh does: build the demo only into an empty data "
        "directory, or rebuild a demo this release cannot read that holds no "
        "labels or annotations (the old one is moved aside, not deleted)",
    )


@command("demo", "render the procedural demo corpus and ingest it", _demo_args)
def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs
    from va_app.services.reads import corpus_is_empty

    if args.first_run and not corpus_is_empty(settings):
        try:
            why = jobs.stale_demo(settings)
        except VAError:  # the app shows what is wrong with this corpus, and how to fix it
            return 0
        if not why:
            return 0
        moved = jobs.set_aside(settings)
        print(f"{why}: moved it to {moved} and building this release's demo ...", file=sys.stderr)
    elif args.first_run:
        print("empty data directory: building the demo corpus first ...", file=sys.stderr)
    report = jobs.build_demo(
        settings, user=_user(settings), n_shots=args.shots, progress=_tqdm_progress("demo")
    )
    print(_report_line(report))
    return 0


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="folder with video files")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for decoding and shot detection (default VA_INGEST_WORKERS; "
        "0 = one per CPU core, 1 = serial)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const=True,
        default=False,
        metavar="ADDRESS",
        help="run on Ray: a local Ray when no ADDRESS, else the cluster at ADDRESS "
        "(e.g. auto, ray://head:10001); the videos must be on storage its "
        "nodes can read",
    )


@command("ingest", "ingest every video under a folder (recursive, resumable)", _ingest_args)
def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs

    report = jobs.ingest_videos(
        settings,
        args.dir,
        user=_user(settings),
        progress=_tqdm_progress("ingest"),
        weights_progress=_byte_progress(),
        workers=args.workers,
        ray=args.ray,
    )
    print(_report_line(report))
    for skipped in report.skipped:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    for line in _cut_list_report(report):
        print(line)
    return 0


def _n_shots(n: int) -> str:
    return f"{n} shot" if n == 1 else f"{n} shots"


def _cut_list_report(report) -> Iterator[str]:
    """What the editors' cut lists did in an ingest run (nothing when there were none)."""
    for path in report.cut_list_videos:
        yield f"  {path}: {report.cut_list_notes.get(path, 'shots from its cut list')}"
    for fallback in report.cut_list_fallbacks:
        yield f"  cut list not used for {fallback.path} (shots detected): {fallback.reason}"
    for cut_list, names in report.cut_list_unmatched.items():
        yield f"  {cut_list} names sources that are no video of its folder: {', '.join(names)}"


def _reindex_args(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--missing",
        action="store_true",
        help="add only the shots the index lacks (resumable; what the background job runs); "
        "exits at once when another such job runs for this corpus",
    )
    how.add_argument(
        "--background",
        action="store_true",
        help="start that job as a detached process and return (log: DATA_DIR/logs/)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@command(
    "reindex", "rebuild the Chroma index from the SQL catalog and the h5 matrix", _reindex_args
)
def _reindex(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs

    progress = None if args.quiet else _tqdm_progress("reindex", unit="shots")
    if args.background:
        started = jobs.start_index_job(settings, user=_user(settings))
        print("index job started" if started else "nothing to index, or a job already runs")
        return 0
    if args.missing:
        n = jobs.fill_index(settings, user=_user(settings), progress=progress)
        print("another index job runs for this corpus" if n is None else f"indexed {n} shots")
        return 0
    n = jobs.reindex(settings, user=_user(settings), progress=progress)
    print(f"indexed {n} shots")
    return 0


@command("info", "corpus summary: counts, encoder, skipped files, cut lists", _json_flag)
def _info(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services.reads import corpus_info

    info = corpus_info(settings)
    _emit(args, info, _info_lines(info))
    return 0


def _info_lines(info: dict[str, Any]) -> Iterator[str]:
    for key, value in info.items():
        if key == "skipped":
            yield f"skipped: {len(value)}"
            yield from (f"  {item['path']}: {item['reason']}" for item in value)
        elif key in _CUT_LIST_KEYS:
            yield from _cut_list_lines(key, value)
        elif key == "index" and value is None:
            yield "index: cannot be read (search is exact meanwhile): run `check --repair`"
        else:
            yield f"{key}: {value}"


_CUT_LIST_KEYS = ("cut_lists", "cut_list_fallbacks")


def _cut_list_lines(key: str, items: list[dict]) -> Iterator[str]:
    if key == "cut_lists":
        yield f"shots from cut lists: {len(items)} videos"
        yield from (f"  {i['video']}: {_n_shots(i['shots'])} from {i['cut_list']}" for i in items)
    else:
        yield f"cut lists not used (shots detected): {len(items)} videos"
        yield from (f"  {i['video']}: {i['reason']}" for i in items)


@command("shots", "list every shot", _json_flag)
def _shots(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services.reads import shot_rows

    rows = shot_rows(settings)
    _emit(
        args,
        rows,
        (
            f"{row['id']}\t{row['start_s']:.2f}-{row['end_s']:.2f}s\tcluster {row['cluster']}"
            for row in rows
        ),
    )
    return 0


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", default="", help="a description of what to find")
    p.add_argument(
        "--like",
        metavar="SHOT_ID",
        default=None,
        help="more like this shot (combines with TEXT and filters)",
    )
    p.add_argument(
        "--label",
        default=None,
        help="zero-shot: search by this label's name, description and hints",
    )
    p.add_argument(
        "--filter",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="video=KEY, genre=G, tag=T, title=PART, min_duration=S, max_duration=S "
        "(repeat a key to accept any of its values)",
    )
    p.add_argument("--limit", type=int, default=20, help="number of shots (default 20)")
    _json_flag(p)


@command(
    "search",
    "find shots by a description, an example shot and metadata (the app's search)",
    _search_args,
)
def _search(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.search.shots import SearchFilters, SearchQuery
    from va_app.services import reads

    filters = SearchFilters.from_pairs(args.filter)
    if not (args.text.strip() or args.like or args.label):
        raise ValidationError("search needs TEXT, --like SHOT_ID or --label NAME")
    with _services(settings, search=True) as app:
        query = SearchQuery(texts=(args.text,), like=args.like, filters=filters)
        if args.label:  # the label's own words, plus TEXT when given
            zero = reads.zero_shot_query(app, args.label)
            query = SearchQuery(
                texts=(*query.texts, *zero.texts),
                like=args.like,
                filters=filters,
                vector=None if query.texts else zero.vector,
            )
        result = reads.search(app, query, k=args.limit, progress=_byte_progress())
        rows = reads.describe_hits(app, result)
        problem = reads.encoder_problem(app)
    if problem:
        print(f"note: the corpus's encoder is not available ({problem})", file=sys.stderr)
    if result.notice:
        print(f"note: {result.notice}", file=sys.stderr)
    _emit(
        args,
        rows,
        (
            f"{row['score']:.3f}\t{row['id']}\t{row['start_s']:.2f}-"
            f"{row['end_s']:.2f}s\t{row['title']}"
            for row in rows
        ),
    )
    return 0


@command(
    "fetch-weights",
    "download the CLIP weights VA_CLIP_MODEL / VA_CLIP_PRETRAINED name, "
    "once, into the Hugging Face cache (verified)",
    _json_flag,
)
def _fetch_weights(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.encoders.clip import fetch_clip_weights

    done = [0]
    bar = _byte_progress()

    def progress(n_bytes: int, total: int, note: str) -> None:
        done[0] = n_bytes
        bar(n_bytes, total, note)

    weights = fetch_clip_weights(settings.clip_model, settings.clip_pretrained, progress=progress)
    report = {
        "encoder": weights.id,
        "path": weights.checkpoint or weights.model_name,
        "downloaded_bytes": done[0],
        "description": weights.description,
    }
    _emit(args, report, f"{weights.description}: {report['path']}")
    return 0


def _labels_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("create", "list"))
    p.add_argument("name", nargs="?", help="label name (create)")
    p.add_argument("--description", default="", help="what the label means (guidelines)")
    p.add_argument("--annotator", default="", help="who creates it")
    _json_flag(p)


@command("labels", "create a label, or list labels with their progress", _labels_args)
def _labels(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import reads

    with _services(settings) as app:
        if args.action == "create":
            if not args.name:
                raise ValidationError("labels create needs a NAME")
            label = app.labelling.create_label(
                _user(settings), args.name, description=args.description, created_by=args.annotator
            )
            _emit(args, {"name": label.name}, f"created {label.name!r}")
            return 0
        rows = reads.label_summaries(app)
        _emit(
            args,
            rows,
            (
                f"{row['name']}: {row['positives']} positive, {row['negatives']} "
                f"negative, {row['versions']} model versions"
                for row in rows
            ),
        )
    return 0


def _annotations_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("import", "export"))
    p.add_argument(
        "file",
        type=Path,
        nargs="?",
        help="import: CSV/Parquet/JSON file; export: output file (default stdout CSV)",
    )
    p.add_argument(
        "--format",
        choices=("csv", "parquet", "json", "netflix"),
        default=None,
        help="netflix = the Netflix VA per-label agg JSON (needs --label on export)",
    )
    p.add_argument("--label", default=None, help="export only this label")
    p.add_argument(
        "--create-labels", action="store_true", help="import: create labels that do not exist yet"
    )


@command("annotations", "import or export annotations (CSV, Parquet, JSON)", _annotations_args)
def _annotations(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as app:
        if args.action == "import":
            if args.file is None:
                raise ValidationError("annotations import needs a FILE")
            n = app.labelling.import_file(
                _user(settings),
                args.file,
                fmt=args.format,
                label=args.label,
                create_labels=args.create_labels,
            )
            print(f"imported {n} annotations")
            return 0
        out = args.file or Path("/dev/stdout")
        fmt = args.format or (args.file.suffix.lstrip(".") if args.file else "csv")
        n = app.labelling.export_file(_user(settings), out, fmt=fmt, label=args.label)
        if args.file:
            print(f"exported {n} annotations to {args.file}")
    return 0


def _dashboard_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("export",))
    p.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        help="file format of the tables (default csv)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write the tables into")
    p.add_argument("--label", default=None, help="only this label's tables (default: every label)")
    _json_flag(p)


@command(
    "dashboard",
    "export the dashboard's tables (progress, clicks per annotator and day, "
    "agreement, score history) as CSV or Parquet, one file each",
    _dashboard_args,
)
def _dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import dashboard

    with _services(settings) as app:
        paths = dashboard.export_tables(app, args.out, fmt=args.format, label=args.label)
    _emit(args, {"files": [str(p) for p in paths]}, (f"wrote {path}" for path in paths))
    return 0


def _export_edit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--positives",
        action="store_true",
        help="the label's positive shots (the annotators' majority)",
    )
    which.add_argument(
        "--min-score",
        type=float,
        metavar="S",
        help="the shots the label's latest model version scores at least S",
    )
    which.add_argument(
        "--top", type=int, metavar="N", help="the latest model version's N best shots"
    )
    p.add_argument("--format", choices=("otio", "edl", "fcpxml"), required=True)
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the file to write (EDL markers of several videos: one EDL per video beside it)",
    )
    p.add_argument(
        "--video",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY",
        help="only these videos (their keys, as `shots` lists them before '|')",
    )
    p.add_argument(
        "--markers",
        action="store_true",
        help="per video a timeline of the whole video with a marker per shot "
        "(name = label, comment = score), instead of one timeline of selects",
    )
    p.add_argument(
        "--order",
        choices=("time", "score"),
        default="time",
        help="selects in source order (video, then time; default) or best score first",
    )
    _json_flag(p)


@command(
    "export-edit",
    "a label's shots as an editor's timeline: OpenTimelineIO, CMX 3600 EDL or FCP 7 XML",
    _export_edit_args,
)
def _export_edit(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services.editorial import EditChoice, edit_export, write_edit_export

    choice = EditChoice(positives=args.positives, min_score=args.min_score, top=args.top)
    with _services(settings) as app:
        export = edit_export(
            app,
            _user(settings),
            args.label,
            choice,
            fmt=args.format,
            markers=args.markers,
            videos=args.video,
            order=args.order,
            stem=args.out.stem,
        )
    paths = write_edit_export(export, args.out)
    summary = {
        "files": [str(p) for p in paths],
        "shots": export.n_shots,
        "videos": export.n_videos,
        "version": export.version,
        "format": args.format,
    }
    scored = f" (model v{export.version})" if export.version else ""
    _emit(
        args,
        summary,
        [f"wrote {export.n_shots} shots of {export.n_videos} videos{scored}:"]
        + [f"  {p}" for p in paths],
    )
    return 0


def _build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", required=True)
    p.add_argument("-n", "--feed-size", type=int, default=20, help="shots per feed")
    p.add_argument("--hide-labelled", action="store_true", help="leave labelled shots out of feeds")
    p.add_argument(
        "--scores",
        action="store_true",
        help="with --json: also every shot's probability under the new version "
        '("scores": {shot id: probability}), as `score` would write it',
    )
    _json_flag(p)


@command(
    "build", "train the label's classifier, score every shot, print scores and feeds", _build_args
)
def _build(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import reads

    with _services(settings) as app:
        outcome = app.modelling.build(
            _user(settings), args.label, n=args.feed_size, hide_labelled=args.hide_labelled
        )
        ids = reads.shot_ids(app) if args.scores else []
    r, v = outcome.result, outcome.version
    out = {
        "version": v.version,
        "n_pos": r.n_pos,
        "n_neg": r.n_neg,
        "model_score": r.model_score,
        "data_score": r.data_score,
        "build_ms": round(r.build_ms, 2),
        "feeds": r.feeds,
    }
    if args.scores:
        out["scores"] = dict(zip(ids, r.probabilities.round(6).tolist()))
    _emit(
        args,
        out,
        f"{v.label} v{v.version}: {r.n_pos} positive / {r.n_neg} negative, model score "
        f"{r.model_score:.3f}, data score {r.data_score:.3f}, built in {r.build_ms:.0f} ms",
    )
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("export",))
    p.add_argument("--label", required=True)
    p.add_argument("--version", type=int, default=None, help="default: the latest")
    p.add_argument("--out", type=Path, required=True, help="output file (.vamodel.json)")


@command("model", "export a model version to a small portable file", _model_args)
def _model(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as app:
        path = app.modelling.export_model(
            _user(settings), args.label, args.out, version=args.version
        )
    print(f"wrote {path}")
    return 0


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", default=None)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, default=None, help="stored version (default latest)")
    which.add_argument("--model", type=Path, default=None, help="an exported model file")
    p.add_argument("--out", type=Path, required=True, help="output .csv or .parquet")


@command(
    "score", "score every shot of the corpus with a model; writes shot_id, probability", _score_args
)
def _score(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.formats.tables import write_table

    if args.model is None and not args.label:
        raise ValidationError("score needs --label (a stored model) or --model FILE")
    with _services(settings) as app:
        frame = app.modelling.score(
            _user(settings), args.label, version=args.version, model_file=args.model
        )
    write_table(frame, args.out)
    print(f"scored {len(frame)} shots -> {args.out}")
    return 0


def _backup_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dest", type=Path, help="a new, empty folder")
    p.add_argument("--no-thumbs", action="store_true", help="leave thumbnails out")


@command(
    "backup", "consistent copy of the corpus (SQL, h5, models) while the app runs", _backup_args
)
def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs

    report = jobs.backup_corpus(
        settings,
        args.dest,
        user=_user(settings),
        include_thumbs=not args.no_thumbs,
        progress=lambda step: print(step, file=sys.stderr),
    )
    print(f"backed up to {report.path}: " + ", ".join(f"{v} {k}" for k, v in report.counts.items()))
    return 0


def _restore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, help="a folder written by `backup`")
    p.add_argument("--force", action="store_true", help="replace a non-empty data directory")


@command(
    "restore", "restore a backup into the data directory (then rebuilds the index)", _restore_args
)
def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs

    report = jobs.restore_corpus(
        settings,
        args.src,
        user=_user(settings),
        force=args.force,
        progress=lambda step: print(step, file=sys.stderr),
    )
    print(
        f"restored into {report.data_dir}: "
        + ", ".join(f"{v} {k}" for k, v in report.counts.items())
    )
    return 0


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=("upgrade", "status"),
        help="upgrade: apply pending schema revisions (after a backup); "
        "status: the catalog's revision and what is pending",
    )
    _json_flag(p)


@command(
    "db", "the catalog's schema: upgrade in place (backs up first), or show its status", _db_args
)
def _db(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs

    if args.action == "status":
        state = jobs.schema_state(settings)
        out = {"revision": state.current, "head": state.head, "pending": state.pending}
        _emit(
            args,
            out,
            f"schema {state.current or 'none'}; newest {state.head}; "
            f"pending: {', '.join(state.pending) or 'nothing'}",
        )
        return 0
    report = jobs.upgrade_schema(
        settings, user=_user(settings), progress=lambda step: print(step, file=sys.stderr)
    )
    out = {
        "before": report.before,
        "after": report.after,
        "applied": report.applied,
        "backup": str(report.backup) if report.backup else None,
    }
    _emit(
        args,
        out,
        f"schema {report.before or 'none'} -> {report.after}"
        + (
            f" (applied {', '.join(report.applied)}; backup in {report.backup})"
            if report.applied
            else " (nothing to apply)"
        ),
    )
    return 0


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--repair",
        action="store_true",
        help="rebuild what is derived (vector index, thumbnails, preview clips) where it is "
        "broken; the catalog, the matrix and models are never guessed at (restore them)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="only what costs little at any size (what the app checks on open)",
    )
    _json_flag(p)


@command(
    "check",
    "check the catalog, matrix, index, models and images against each other; "
    "non-zero exit while any problem remains",
    _check_args,
)
def _check(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import health

    done: list[str] = []
    if args.repair:
        outcome = health.repair(settings, user=_user(settings), progress=_note_progress())
        report, done = outcome.after, outcome.done
    else:
        report = health.check(settings, quick=args.quick)
    _emit(args, {**report.as_dict(), "repaired": done}, _check_lines(report, done))
    return 0 if report.ok else 1


def _check_lines(report, done: list[str]) -> Iterator[str]:
    facts = ", ".join(f"{k} {v}" for k, v in report.facts.items())
    yield f"checked: {facts}"
    yield from (f"repaired: {line}" for line in done)
    yield from (f"note: {note}" for note in report.notes)
    for problem in report.problems:
        yield f"PROBLEM {problem.part}: {problem.what}"
        yield f"    fix: {problem.fix}"
    repairable = sum(p.repairable for p in report.problems)
    if report.ok:
        yield "ok: no problems found"
    else:
        more = f" ({repairable} repairable with --repair)" if repairable else ""
        yield f"{len(report.problems)} problem(s){more}"


def _note_progress():
    return lambda message: print(message, file=sys.stderr)


def _user(settings: Settings):
    """The CLI acts as the OS user; in local mode (no roles configured) that is an admin."""
    from va_app.services.jobs import cli_user

    return cli_user(settings)


def _bench_args(p: argparse.ArgumentParser) -> None:
    from va_app.research.bench.arguments import add_bench_arguments

    add_bench_arguments(p)


@command(
    "bench", "benchmark the build, search and load paths (and, optionally, app clicks)", _bench_args
)
def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.research.bench.engine import bench_command

    if args.ingest:
        from va_app.research.bench.ingest import ingest_bench_command

        return ingest_bench_command(args, settings)
    if args.browser:
        return _browser_bench(args, settings)
    if args.load:
        return _load_bench(args, settings)
    if args.precision:
        return _precision_bench(args)
    if args.timeline:
        return _timeline_bench(args)
    if _scale_shots(args):
        return _scale_bench(args, settings)
    if not args.app_shots:
        return bench_command(args, settings)
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        bench_command(args, settings)
    result = json.loads(buffer.getvalue()) if args.json else {"engine": buffer.getvalue()}
    result["app"] = _app_click_bench(args, settings)
    # Not _emit: the text is only there without --json (result["engine"]).
    print(
        json.dumps(result, indent=2)
        if args.json
        else result["engine"] + "\n" + json.dumps(result["app"], indent=2)
    )
    return 0


def _precision_bench(args: argparse.Namespace) -> int:
    from va_app.research.bench.precision import run_precision_bench

    shots, dim = (3000, 32) if args.quick else (args.shots, args.dim)
    labelled = min(args.labelled, shots)
    result = run_precision_bench(shots=shots, dim=dim, seed=args.seed, labelled=labelled)
    print(json.dumps(result, indent=2))
    return 0


def _scale_shots(args: argparse.Namespace) -> int:
    """Shots for the scale bench: --scale, or --shots too large for the in-memory bench."""
    from va_app.research.bench.scale import needs_scale_bench

    if args.scale:
        return args.scale
    other = args.quick or args.precision or args.app_shots
    return args.shots if needs_scale_bench(args.shots, args.dim) and not other else 0


def _scale_bench(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.research.bench.engine import stage_progress
    from va_app.research.bench.scale import run_scale_bench

    result = run_scale_bench(
        shots=_scale_shots(args),
        dim=args.dim,
        seed=args.seed,
        precision=args.matrix_precision,
        work_dir=args.work_dir or Path(settings.data_dir) / "bench",
        ray_shards=args.ray_shards,
        progress=stage_progress(),
    )
    _emit(args, result, (f"{key:28} {value}" for key, value in result.items()))
    return 0


def _app_click_bench(args: argparse.Namespace, settings: Settings) -> dict:
    from va_app.research.bench.app_clicks import make_click_bench_corpus, run_click_bench

    work = (args.work_dir or Path(settings.data_dir) / "bench") / f"app-{args.app_shots}"
    if not (work / "embeddings.h5").exists():
        print(f"building a {args.app_shots}-shot app corpus in {work} ...", file=sys.stderr)
        make_click_bench_corpus(work, shots=args.app_shots, dim=args.dim)
    return {"shots": args.app_shots, **run_click_bench(work, label="bench")}


def _timeline_bench(args: argparse.Namespace) -> int:
    from va_app.research.bench.timeline import summary_lines, timeline_bench

    results = timeline_bench(repeats=min(args.repeats, 5), seed=args.seed)
    _emit(args, results, summary_lines(results))
    return 0


def _browser_bench(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.research.bench.app_browser import run_browser_bench
    from va_app.research.bench.app_clicks import make_click_bench_corpus

    shots = 3000 if args.quick else args.shots
    work = (args.work_dir or Path(settings.data_dir) / "bench") / f"browser-{shots}"
    if not (work / "embeddings.h5").exists():
        print(f"building a {shots}-shot app corpus in {work} ...", file=sys.stderr)
        make_click_bench_corpus(work, shots=shots, dim=args.dim)
    result = {"shots": shots, **run_browser_bench(work, decisions=args.decisions)}
    print(json.dumps(result, indent=2))
    return 0


def _load_bench(args: argparse.Namespace, settings: Settings) -> int:
    """One JSON object per line with --json (a run per backend and annotator count)."""
    from va_app.research.bench.load import run_load_bench

    counts = [int(n) for n in str(args.annotators).split(",") if n.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    work = args.work_dir or Path(settings.data_dir) / "bench"
    for backend in backends:
        for n in counts:
            print(f"load: {n} annotators on {backend} for {args.minutes} min ...", file=sys.stderr)
            result = run_load_bench(
                settings,
                work,
                annotators=n,
                seconds=args.minutes * 60,
                backend=backend,
                shots=args.load_shots,
                pace_s=args.pace,
                database_url=settings.database_url if backend == "postgresql" else "",
            )
            print(json.dumps(result) if args.json else _load_line(result), flush=True)
    return 0


def _load_line(r: dict) -> str:
    return (
        f"{r['backend']}: {r['annotators']} annotators, {r['decisions']} decisions in "
        f"{r['seconds']} s ({r['per_s']}/s), confirm p50 {r['p50_ms']} ms p95 {r['p95_ms']} ms, "
        f"errors {r['errors']}, lost {r['lost']}, doubled {r['doubled']} "
        f"(load {r['load_avg_before']} -> {r['load_avg_after']})"
    )


def _import_netflix_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dir",
        type=Path,
        help="the Netflix VA data folder (shot-data.csv, "
        "embeddings.h5, agg/, cmp/, checkpoints/ ...)",
    )
    p.add_argument(
        "--index",
        action="store_true",
        help="also build the Chroma index (slow at 500k; search is exact without it)",
    )
    _json_flag(p)


@command(
    "import-netflix",
    "import the Netflix Video Annotator data set as a corpus",
    _import_netflix_args,
)
def _import_netflix(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.services import jobs

    report = jobs.import_netflix_data(
        settings, args.dir, user=_user(settings), index=args.index, progress=_stage_bars()
    )
    _emit(args, report.summary(), report.line())
    return 0


def _experiments_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", choices=("sample-efficiency", "source-bandit"))
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="the Netflix data folder, or a data dir made by import-netflix",
    )
    p.add_argument("--labels", nargs="*", default=None, help="only these labels")
    p.add_argument("--out", type=Path, default=None, help="output folder (default DATA/results)")
    p.add_argument(
        "--fast",
        action="store_true",
        help="the app's classifier instead of the paper's LogisticRegressionCV",
    )
    p.add_argument("--rounds", type=int, default=40, help="source-bandit: rounds of 25")
    p.add_argument("--bootstraps", type=int, default=5)


@command(
    "experiments",
    "the paper's experiments: sample efficiency (Table 2), source bandit (Table 3)",
    _experiments_args,
)
def _experiments(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.research.experiments import run_sample_efficiency, run_source_bandit

    out = args.out or args.data / "results"
    if args.experiment == "sample-efficiency":
        efficiency = run_sample_efficiency(
            args.data,
            labels=args.labels,
            out_dir=out,
            n_bootstrap=args.bootstraps,
            fast=args.fast,
            progress=_stage_bars(),
        )
        print(efficiency.table2_text())
    else:
        bandit = run_source_bandit(
            args.data,
            labels=args.labels,
            out_dir=out,
            rounds=args.rounds,
            n_bootstrap=args.bootstraps,
            fast=args.fast,
            progress=_stage_bars(),
        )
        print(bandit.table3_text())
    print(f"results in {out}", file=sys.stderr)
    return 0


def _stage_bars():
    from va_app.research.bench.engine import stage_progress

    return stage_progress()


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--labels",
        nargs="*",
        default=None,
        help="concepts with ground truth (default: all the corpus has)",
    )
    p.add_argument("--budget", type=int, default=200, help="annotations per strategy")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--batch", type=int, default=10, help="annotations per round")
    p.add_argument("--html", type=Path, default=None, help="write the Plotly figure here")
    p.add_argument(
        "--reward",
        choices=("mistakes", "quality"),
        default="mistakes",
        help="what the recommender (VA + recommender) learns from: the share of a "
        "batch the model had wrong, or the change of the model-quality score",
    )
    p.add_argument("--strategies", nargs="+", default=None, help="which strategies (default: all)")
    p.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="unlabelled shots each fit takes as weak negatives (0: none; default the app's)",
    )
    p.add_argument(
        "--pool-prior",
        type=float,
        default=None,
        help="how many labelled negatives the pool is worth (default the app's)",
    )
    p.add_argument(
        "--pool-screen",
        choices=("rocchio", "fit", "none"),
        default=None,
        help="which pool shots count as negatives: those the labels' mean directions "
        "(rocchio) or a fit on the labels alone (fit) call negative, or all (none); "
        "default the app's",
    )
    p.add_argument(
        "--spread",
        nargs="*",
        choices=("borderline", "positive", "negative"),
        default=None,
        help="feeds whose pages are spread over the k-means clusters (none: give no feed; "
        "default the app's)",
    )
    _json_flag(p)


def _simulation_model(args: argparse.Namespace):
    """The simulated builds' options from --pool-size, --pool-prior, --pool-screen and
    --spread."""
    from va_app.learn.engine import DEFAULT_POOL, DEFAULT_SPREAD
    from va_app.learn.pool import PoolRule
    from va_app.research.simulate.strategies import ModelOptions

    pool = PoolRule(
        size=DEFAULT_POOL.size if args.pool_size is None else args.pool_size,
        prior=DEFAULT_POOL.prior if args.pool_prior is None else args.pool_prior,
        screen=DEFAULT_POOL.screen if args.pool_screen is None else args.pool_screen,
    )
    spread = DEFAULT_SPREAD if args.spread is None else tuple(args.spread)
    return ModelOptions(pool=pool, spread=spread)


@command(
    "simulate",
    "oracle simulation: VA vs random / zero-shot / combined labelling, and the recommender's lift",
    _simulate_args,
)
def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from va_app.research.simulate.runner import STRATEGIES, run_simulation
    from va_app.research.simulate.summary import summary_lines

    result = run_simulation(
        settings,
        labels=args.labels,
        budget=args.budget,
        seeds=args.seeds,
        batch=args.batch,
        out_html=args.html,
        workers=None,
        reward=args.reward,
        progress=_tqdm_progress("simulate", unit="labels"),
        model=_simulation_model(args),
        strategies=tuple(args.strategies or STRATEGIES),
    )
    _emit(args, result, summary_lines(result))
    return 0


@contextmanager
def _services(settings: Settings, *, search: bool = False):
    """The corpus's services; only ``search`` opens the vector index (see open_corpus)."""
    from va_app.services.bootstrap import bootstrap

    app = bootstrap(settings, check_index=search)
    try:
        yield app
    finally:
        app.close()


# -- plumbing ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m va_app",
        description="Video Annotator: ingest videos, label shots, build and export classifiers.",
    )
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="corpus folder (default: $VA_DATA_DIR or ./data)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, help_text, arguments) in _COMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text, parents=[data_dir])
        arguments(child)
        child.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.data_dir is not None:
            settings = settings.with_data_dir(args.data_dir)
        return args.handler(args, settings)
    except VAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


def _tqdm_progress(desc: str, *, unit: str = "videos"):
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, disable=None)

    def update(done: int, total: int, name: str = "") -> None:
        bar.total = total
        bar.n = done
        if name:
            bar.set_postfix_str(name[-40:], refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def _byte_progress():
    """A download's ``progress(done, total, note)`` as a tqdm bar on stderr, made on first use
    (nothing shows when nothing is downloaded). Shown on a non-terminal too: a log should say
    that hundreds of megabytes came in."""
    from tqdm import tqdm

    bars: list[tqdm] = []

    def update(done: int, total: int, note: str = "") -> None:
        if note:
            print(note, file=sys.stderr)
        if not bars:
            bars.append(
                tqdm(
                    desc="weights",
                    unit="B",
                    unit_scale=True,
                    total=total or None,
                    file=sys.stderr,
                    disable=False,
                )
            )
        bars[0].n = done
        bars[0].refresh()
        if total and done >= total:
            bars[0].close()

    return update


def _report_line(report) -> str:
    parts = [
        f"added {len(report.added_videos)} videos ({report.added_shots} shots)",
        f"unchanged {len(report.unchanged_videos)}",
        f"replaced {len(report.replaced_videos)}",
        f"skipped {len(report.skipped)}",
    ]
    if report.recovered_videos:
        parts.append(f"cleaned up {len(report.recovered_videos)} interrupted")
    return ", ".join(parts)
