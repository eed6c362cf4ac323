"""The options of ``python -m va_app bench``, apart from the benchmarks themselves, so that
building the command line imports none of them (every command would pay for it)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The ingest runners ``bench --ingest`` can time.
RUNNERS = ("serial", "pool", "ray")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m va_app bench``: the engine bench, ``--ingest``, the app and
    browser benches, ``--timeline``, ``--scale`` and ``--load``."""
    parser.add_argument("--shots", type=int, default=500_000, help="corpus size (default 500000)")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension (default 512)")
    parser.add_argument("--labelled", type=int, default=1000, help="labelled shots per build")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed runs per measure (≥ 5 builds)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ef-search",
        type=int,
        default=None,
        help="HNSW search beam (default: the app's, va_app.store.index.HNSW_CONFIG)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="cache for the h5 matrix and the Chroma index (default DATA_DIR/bench)",
    )
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="skip the Chroma index (hours to build at millions of shots here); "
        "search is then exact, as in the app while its index builds",
    )
    parser.add_argument(
        "--precision",
        action="store_true",
        help="instead: what float16 and PCA-reduced matrices cost in search "
        "and feed accuracy against float32 (docs/scale.md)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small run (3,000 × 32) to check that everything works",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--ingest",
        action="store_true",
        help="benchmark ingest instead: shots/s per runner beside the encoder "
        "alone, and seconds per stage",
    )
    parser.add_argument(
        "--ingest-shots",
        type=int,
        default=120,
        help="shots of rendered demo movies to ingest (--ingest; default 120)",
    )
    parser.add_argument(
        "--encoder",
        choices=("descriptor", "clip"),
        default="descriptor",
        help="--ingest: the offline descriptor, or CLIP (VA_CLIP_MODEL; weights "
        "VA_CLIP_PRETRAINED when set, else random; VA_DEVICE)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="--ingest: workers of the pool and CPUs of the local Ray (default 2)",
    )
    parser.add_argument(
        "--runners",
        default=",".join(RUNNERS),
        help=f"--ingest: which to time, comma-separated ({','.join(RUNNERS)})",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="--ingest: time the ray runner on this cluster instead of a local Ray",
    )
    parser.add_argument(
        "--app-shots",
        type=int,
        default=0,
        help="also time label clicks in the app on a synthetic corpus of this many "
        "shots (e.g. 500000); 0 = skip",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="time the labelling loop in Chromium instead: keyboard decisions on "
        "Search, Active learning and Review of a served corpus of --shots "
        "shots, and the old button path as reference",
    )
    parser.add_argument("--decisions", type=int, default=50, help="decisions per page (--browser)")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="time the Timeline page's work instead: a page of 3-hour titles "
        "(8 × 3,000 shots) and 500 titles of 1,000 shots",
    )
    _add_scale_arguments(parser)
    _add_load_arguments(parser)


def _add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """``bench --scale``: the app's open, share, build and search paths on a mapped corpus."""
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="instead: open, share, build and search an N-shot corpus as the app does "
        "(mapped matrix; cold and warm open, two processes' private memory, recall and "
        "feeds against float32); --shots above 4M runs this too",
    )
    parser.add_argument(
        "--matrix-precision",
        choices=("auto", "float32", "float16"),
        default="auto",
        help="the --scale corpus's scoring copy (default: the app's rule, float16 above 8 GiB)",
    )
    parser.add_argument(
        "--ray-shards",
        type=int,
        default=0,
        help="--scale: also build on a local Ray with this many shard actors (per-shard cost)",
    )


def _add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """``bench --load``: many annotators at once through the decision endpoint."""
    parser.add_argument(
        "--load",
        action="store_true",
        help="instead: many annotators at once through the decision endpoint of a real "
        "`streamlit run` server (a Chromium page and ticket each), on SQLite and PostgreSQL",
    )
    parser.add_argument(
        "--annotators",
        default="20",
        help="annotators at once (--load); a list (20,40,80) runs each count in turn",
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="length of each --load run")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="catalogs to load (--load): sqlite, postgresql (VA_DATABASE_URL's server, else "
        "a throw-away one)",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="seconds each annotator waits between a confirmation and the next decision",
    )
    parser.add_argument(
        "--load-shots",
        type=int,
        default=5000,
        help="shots of the synthetic corpus when the data dir holds none (--load)",
    )
