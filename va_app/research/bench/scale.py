"""The scale benchmark: a corpus of N shots opened, shared, built and searched.

:func:`run_scale_bench` makes (once, cached under ``work_dir``) a synthetic corpus through the
real stores — SQL catalog, compacted and stamped matrix file (float32, plus the float16 copy
where ``matrix_precision`` asks for one) — and measures what a person opening the app on an
archive waits for, and what it costs the machine:

- ``open_cold_s`` / ``open_warm_s``: a fresh process opening the corpus as the app does
  (:func:`~va_app.services.bootstrap.bootstrap`, its matrix and its search) with the matrix
  and catalog files dropped from the page cache first (``cold_cache`` says how, and how much
  stayed resident), then again warm;
- ``private_mb_per_process``: two such processes alive at once, each after a full pass over
  the matrix, from ``/proc/PID/smaps_rollup`` (the mapped pages are shared, not private);
- ``floor_ms_p50``: one pass over the scoring representation (numpy's float32 ``X @ w``, or
  torch's float16 kernel), ``build_ms_p50``: full builds, ``search_exact_ms_p50``: exact
  top-50 text-style searches (no index);
- ``recall_at_50``, ``borderline_overlap``, ``top_feeds_identical``: against float32 — the
  matrix itself, or for a float16 corpus a float32 pass streamed from the file in blocks
  (bounded memory, never mapped);
- ``peak_rss_mb``: the benchmark process's high-water mark (VmHWM) over the app's path (open,
  builds, searches); ``peak_rss_total_mb`` also over the float32 reference, the in-memory
  comparison (``read_into_memory``: the same builds on a private copy, as the app read it
  before the matrix was mapped) and the Ray builds (``ray``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from va_app.research.bench.engine import (
    GENRES,
    SHOTS_PER_VIDEO,
    TOP_K,
    SyntheticCorpus,
    _unit,
    drop_page_cache,
)

Progress = Callable[[int, int, str], None]
SCALE_ENCODER_ID = "bench:synthetic/1"
#: Builds timed per run (after one warm-up) and text-style queries searched.
BUILDS, QUERIES = 5, 20
#: Labelled shots per build (half positive), as in the engine bench.
LABELLED = 1000
#: Rows per block when float32 is streamed from the file for the reference (128 MiB at 512-d).
STREAM_ROWS = 65_536
#: The in-memory comparison is made up to this matrix size (a private copy: 2M × 512 = 4 GB).
IN_MEMORY_MAX_BYTES = 6 << 30
#: Rows of the sample the diversity clusters are fitted on.
CLUSTER_SAMPLE = 20_000


def needs_scale_bench(shots: int, dim: int) -> bool:
    """True when a float32 matrix of ``shots`` × ``dim`` is past what the in-memory engine
    bench holds (the app keeps a float16 copy there too)."""
    from va_app.store.corpus import FLOAT16_ABOVE_BYTES

    return shots * dim * 4 > FLOAT16_ABOVE_BYTES


# -- the corpus ----------------------------------------------------------------------------------
def scale_corpus(
    work_dir: Path,
    *,
    shots: int,
    dim: int = 512,
    seed: int = 0,
    precision: str = "auto",
    progress: Progress | None = None,
) -> Path:
    """The data dir of a synthetic corpus of ``shots`` × ``dim`` (built once, then reused)."""
    data_dir = Path(work_dir) / f"scale-{shots}x{dim}-seed{seed}-{precision}"
    marker = data_dir / "bench-scale.json"
    if marker.exists():
        return data_dir
    if data_dir.exists():
        import shutil

        shutil.rmtree(data_dir)
    build_scale_corpus(
        data_dir, shots=shots, dim=dim, seed=seed, precision=precision, progress=progress
    )
    marker.write_text(
        json.dumps({"shots": shots, "dim": dim, "seed": seed, "precision": precision})
    )
    return data_dir


def build_scale_corpus(
    data_dir: Path,
    *,
    shots: int,
    dim: int,
    seed: int,
    precision: str = "auto",
    progress: Progress | None = None,
) -> None:
    """Catalog rows (one video per 250 shots, genres, durations, clusters) and the compacted,
    stamped matrix file, written in one pass of ``ROWS_PER_CHUNK`` rows at a time."""
    from va_app.config import Settings
    from va_app.learn.clusters import fit_clusters
    from va_app.store import meta
    from va_app.store.corpus import Corpus
    from va_app.store.matrix import RowFacts, write_rows

    settings = Settings(data_dir=data_dir, encoder="descriptor", matrix_precision=precision)
    synthetic = SyntheticCorpus.make(shots, dim, seed=seed)
    corpus = Corpus(settings)
    try:
        first = next(synthetic.chunks())[1]
        centroids = fit_clusters(first[:CLUSTER_SAMPLE], k=settings.kmeans_k, seed=seed).centroids
        clusters: list[np.ndarray] = []

        def blocks():
            for start, vectors in synthetic.chunks():
                labels = _nearest(vectors, centroids)
                clusters.append(labels)
                _insert_chunk(corpus, synthetic, start, len(vectors), labels)
                _report(progress, start + len(vectors), shots, "writing the corpus")
                yield vectors

        ids = np.array(
            [
                f"bench{v:06d}|{(r % SHOTS_PER_VIDEO) * 24}".encode()
                for r, v in enumerate(synthetic.video_of_row.tolist())
            ]
        )
        path = settings.embeddings_path
        tmp = path.with_name("embeddings.bench.h5")
        chosen = corpus.precision_for(shots, dim)
        write_rows(tmp, ids, blocks(), dim=dim, encoder_id=SCALE_ENCODER_ID, precision=chosen)
        corpus.catalog.publish_ingesting({meta.ENCODER_ID: SCALE_ENCODER_ID})
        version = corpus.catalog.corpus_version()
        token = uuid.uuid4().hex
        facts = RowFacts(
            stamp=f"{token}@{int(version) + 1}",
            ids=ids,
            clusters=np.concatenate(clusters),
            video_ids=synthetic.video_of_row.astype(np.int64) + 1,
            duration_s=synthetic.duration_s,
        )
        _stamp_file(tmp, facts)
        os.replace(tmp, path)
        corpus.catalog.stamp_matrix(token, expected_version=version, shots=shots)
    finally:
        corpus.close()


def _stamp_file(path: Path, facts) -> None:
    """Add the stamped facts to a freshly written file (not yet in use: no reader maps it)."""
    import h5py

    from va_app.store.matrix import _write_facts

    with h5py.File(path, "a") as f:
        _write_facts(f, facts.ids, facts)
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _insert_chunk(corpus, synthetic: SyntheticCorpus, start: int, n: int, labels) -> None:
    from va_app.store.schema import utcnow

    now = utcnow()
    rows = range(start, start + n)
    videos = synthetic.video_of_row[start : start + n]
    new = sorted({int(v) for v in videos.tolist()})
    video_records = [
        {
            "id": v + 1,
            "key": f"bench{v:06d}",
            "path": f"bench://{v}",
            "fingerprint": "",
            "title": f"Synthetic video {v}",
            "genre": GENRES[synthetic.genre_of_video[v]],
            "tags": [GENRES[synthetic.genre_of_video[v]], f"set{v % 50}"],
            "source_url": "",
            "fps": 24.0,
            "width": 0,
            "height": 0,
            "n_frames": 0,
            "duration_s": 0.0,
            "codec": "",
            "added_at": now,
        }
        for v in new
        if v * SHOTS_PER_VIDEO >= start
    ]
    durations = synthetic.duration_s[start : start + n].tolist()
    shot_records = [
        {
            "id": f"bench{v:06d}|{(r % SHOTS_PER_VIDEO) * 24}",
            "video_key": f"bench{v:06d}",
            "idx": r % SHOTS_PER_VIDEO,
            "start_frame": (r % SHOTS_PER_VIDEO) * 24,
            "end_frame": (r % SHOTS_PER_VIDEO) * 24 + 23,
            "start_s": float(r % SHOTS_PER_VIDEO),
            "end_s": float(r % SHOTS_PER_VIDEO) + d,
            "fps": 24.0,
            "thumb_path": "",
            "filmstrip_path": "",
            "cluster": int(c),
            "added_at": now,
        }
        for r, v, d, c in zip(rows, videos.tolist(), durations, labels.tolist())
    ]
    corpus.catalog.insert_ingesting(video_records, shot_records)


def _nearest(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    from va_app.learn.clusters import assign_clusters

    return assign_clusters(X, centroids)


# -- the run ----------------------------------------------------------------------------------
def run_scale_bench(
    *,
    shots: int,
    dim: int = 512,
    seed: int = 0,
    precision: str = "auto",
    work_dir: Path,
    ray_shards: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Every figure of the scale benchmark, as the ``bench --scale N --json`` dict; with
    ``ray_shards``, builds on a local Ray with that many shard actors too (``ray``)."""
    data_dir = scale_corpus(
        work_dir, shots=shots, dim=dim, seed=seed, precision=precision, progress=progress
    )
    out: dict = {
        "shots": shots,
        "dim": dim,
        "seed": seed,
        "data_dir": str(data_dir),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }
    out.update(_open_timings(data_dir, progress))
    out.update(_shared_memory(data_dir, progress))
    out.update(_engine_and_search(data_dir, seed, progress, ray_shards=ray_shards))
    out["peak_rss_total_mb"] = _vm_hwm_mb()
    out["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    return out


def _open_timings(data_dir: Path, progress: Progress | None) -> dict:
    files = _corpus_files(data_dir)
    cold = drop_from_page_cache(files)
    _report(progress, 0, 2, "open (cold, warm)")
    first = _child(data_dir, "open")
    _report(progress, 1, 2, "open (cold, warm)")
    second = _child(data_dir, "open")
    _report(progress, 2, 2, "open (cold, warm)")
    return {
        "open_cold_s": first["open_s"],
        "open_warm_s": second["open_s"],
        "open_detail": {"cold": first, "warm": second},
        "cold_cache": cold,
    }


def _shared_memory(data_dir: Path, progress: Progress | None) -> dict:
    """Two app-like processes at once, each after a full pass: their private memory."""
    procs = [_spawn(data_dir, "hold") for _ in range(2)]
    reports = []
    try:
        for i, proc in enumerate(procs):
            assert proc.stdout is not None and proc.stderr is not None, "_spawn pipes both"
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"process {i} gave no report: {proc.stderr.read()}")
            reports.append(json.loads(line))
            _report(progress, i + 1, 2, "two processes")
    finally:
        for proc in procs:
            assert proc.stdin is not None, "_spawn pipes stdin"
            proc.stdin.close()
            proc.wait(timeout=120)
    return {
        "private_mb_per_process": [r["private_mb"] for r in reports],
        "rss_mb_per_process": [r["rss_mb"] for r in reports],
        "shared_mb_per_process": [r["shared_mb"] for r in reports],
        "matrix_mb": reports[0]["matrix_mb"],
        "scoring_copy": reports[0]["scoring_copy"],
    }


def _engine_and_search(
    data_dir: Path, seed: int, progress: Progress | None, *, ray_shards: int = 0
) -> dict:
    from va_app.config import Settings
    from va_app.learn.engine import build
    from va_app.learn.matrix import CorpusMatrix
    from va_app.search.shots import ShotSearch, ShotTable
    from va_app.store.corpus import Corpus

    corpus = Corpus(Settings(data_dir=data_dir, encoder="descriptor"))
    try:
        matrix = CorpusMatrix.load(corpus)
        video_ids, duration_s = matrix.video_ids, matrix.duration_s
        assert video_ids is not None and duration_s is not None, "the bench corpus is compacted"
        table = ShotTable.from_video_ids(corpus.catalog, video_ids, duration_s)
    finally:
        corpus.close()
    synthetic = SyntheticCorpus.make(matrix.n_shots, matrix.X.shape[1], seed=seed)
    w = _unit(np.random.default_rng(7).standard_normal(int(matrix.X.shape[1])))
    out: dict[str, Any] = {"floor_ms_p50": _p50(_repeat(lambda: _one_pass(matrix, w), 5))}
    labels = _labelled(matrix, seed)
    build(matrix, labels, seed=0)  # warm-up
    builds, results = [], []
    for i in range(BUILDS):
        t0 = time.perf_counter()
        results.append(build(matrix, labels, seed=i))
        builds.append(_ms(t0))
        _report(progress, i + 1, BUILDS, "builds")
    out["build_ms_p50"] = _p50(builds)
    out["build_parts_ms_p50"] = {
        k: _p50([r.timings_ms[k] for r in results]) for k in results[0].timings_ms
    }
    out["build_over_floor"] = round(out["build_ms_p50"] / out["floor_ms_p50"], 2)
    search = ShotSearch(matrix, None, table)
    queries, _ = synthetic.text_queries(QUERIES, seed=seed)
    times, hits = [], []
    search.search_vector(queries[0], TOP_K)
    for q in queries:
        t0 = time.perf_counter()
        hits.append([h.shot_id for h in search.search_vector(q, TOP_K)])
        times.append(_ms(t0))
    out["search_exact_ms_p50"] = _p50(times)
    out["search_over_floor"] = round(out["search_exact_ms_p50"] / out["floor_ms_p50"], 2)
    out["peak_rss_mb"] = _vm_hwm_mb()  # the app's path: open, builds, searches
    out.update(_against_float32(matrix, results[-1], labels, queries, hits, progress))
    if matrix.X16 is None and matrix.X.nbytes < IN_MEMORY_MAX_BYTES:
        out["read_into_memory"] = _in_memory_builds(matrix, labels, w, out)
    if ray_shards:
        out["ray"] = _ray_builds(matrix, labels, results[-1], ray_shards)
    return out


def _in_memory_builds(matrix, labels, w, out: dict) -> dict:
    """The same builds and pass over a private in-memory copy of the matrix, as the app read it
    before the matrix was mapped: the mapped file must cost no more (warm page cache)."""
    from dataclasses import replace

    from va_app.learn.engine import build

    copy = replace(matrix, X=np.array(matrix.X))
    floor = _p50(_repeat(lambda: copy.X @ w, 5))
    build(copy, labels, seed=0)
    times = []
    for i in range(BUILDS):
        t0 = time.perf_counter()
        build(copy, labels, seed=i)
        times.append(_ms(t0))
    built = _p50(times)
    return {
        "floor_ms_p50": floor,
        "build_ms_p50": built,
        "mapped_build_over_in_memory": round(out["build_ms_p50"] / built, 2),
    }


def _ray_builds(matrix, labels, local, shards: int) -> dict:
    """Builds with the scoring pass on a local Ray (``shards`` actors mapping the file): the
    time per build, each shard's own scoring time, and agreement with the local build."""
    from dataclasses import replace

    import ray

    from va_app.learn.engine import build
    from va_app.learn.matrix import Scoring
    from va_app.learn.shards import _pool_for, shutdown_pools

    on_ray = replace(matrix, scoring=Scoring(backend="ray", shards=shards))
    ray.init(num_cpus=shards, include_dashboard=False, log_to_driver=False)
    try:
        first = build(on_ray, labels, seed=0)  # starts the actors, maps the shards
        times, result = [], first
        for i in range(BUILDS):
            t0 = time.perf_counter()
            result = build(on_ray, labels, seed=BUILDS - 1 if i == BUILDS - 1 else i)
            times.append(_ms(t0))
        pool = _pool_for(on_ray, on_ray.scoring)
        per_shard = ray.get([actor.timings.remote() for actor in pool.actors])
        return {
            "shards": shards,
            "build_ms_p50": _p50(times),
            "first_build_ms": round(first.build_ms, 1),
            "shard_score_ms_p50": [_p50(t["score_ms"]) for t in per_shard],
            "shard_feeds_ms_p50": [_p50(t["feeds_ms"]) for t in per_shard],
            "shard_rows": [t["rows"] for t in per_shard],
            "same_feeds_as_local": result.feeds == local.feeds,
        }
    finally:
        shutdown_pools()
        ray.shutdown()


def _against_float32(matrix, result, labels, queries, hits, progress) -> dict:
    """Search recall and feed agreement against float32 (streamed when not in memory)."""
    from va_app.learn.feeds import build_feeds

    clf = result.classifier
    w, b = clf.calibrated_weights()
    Q = np.asarray(queries, dtype=np.float32).T
    if matrix.X16 is None:
        logits = matrix.X @ w
        top = _top_k_columns(matrix.X @ Q, TOP_K, 0)
        reference = "the float32 matrix itself (mapped)"
    else:
        logits, top = _stream_float32(matrix, w, Q, progress)
        reference = "float32 streamed from the matrix file in blocks (not mapped)"
    logits += np.float32(b)
    from scipy.special import expit

    p = expit(logits)
    exclude = None
    feeds = build_feeds(p, len(result.feeds["positive"]), seed=0, exclude=exclude)
    truth = {name: [matrix.ids[int(i)] for i in rows] for name, rows in feeds.items()}
    recall = [
        len(set(found) & {matrix.ids[int(r)] for r in top[:, j]}) / TOP_K
        for j, found in enumerate(hits)
    ]
    border = result.feeds["borderline"]
    return {
        "recall_at_50": round(float(np.mean(recall)), 4),
        "recall_at_50_min": round(float(np.min(recall)), 4),
        "top_feeds_identical": result.feeds["positive"] == truth["positive"]
        and result.feeds["negative"] == truth["negative"],
        "borderline_overlap": round(len(set(border) & set(truth["borderline"])) / len(border), 4),
        "feeds_reference": reference,
    }


def _stream_float32(matrix, w, Q, progress) -> tuple[np.ndarray, np.ndarray]:
    """``X @ w`` and each query's top-k over the float32 rows, read block by block with
    ``pread`` (the pages dropped again behind): memory stays one block."""
    import h5py

    from va_app.store.matrix import EMBEDDINGS

    path = Path(matrix.source[0])
    with h5py.File(path, "r") as f:
        offset = int(f[EMBEDDINGS].id.get_offset())
    n, dim = matrix.X.shape
    logits = np.empty(n, dtype=np.float32)
    best = np.empty((0, Q.shape[1]), dtype=np.intp)
    best_scores = np.empty((0, Q.shape[1]), dtype=np.float32)
    fd = os.open(path, os.O_RDONLY)
    try:
        for start in range(0, n, STREAM_ROWS):
            stop = min(start + STREAM_ROWS, n)
            raw = os.pread(fd, (stop - start) * dim * 4, offset + start * dim * 4)
            block = np.frombuffer(raw, dtype=np.float32).reshape(stop - start, dim)
            logits[start:stop] = block @ w
            scores = block @ Q
            rows = np.arange(start, stop)[:, None].repeat(Q.shape[1], 1)
            best, best_scores = _merge_top(best, best_scores, rows, scores)
            os.posix_fadvise(fd, offset + start * dim * 4, len(raw), os.POSIX_FADV_DONTNEED)
            _report(progress, stop, n, "float32 reference (streamed)")
    finally:
        os.close(fd)
    return logits, best


def _merge_top(rows_a, scores_a, rows_b, scores_b) -> tuple[np.ndarray, np.ndarray]:
    rows = np.concatenate([rows_a, rows_b])
    scores = np.concatenate([scores_a, scores_b])
    k = min(TOP_K, rows.shape[0])
    keep = np.argpartition(-scores, k - 1, axis=0)[:k]
    return np.take_along_axis(rows, keep, 0), np.take_along_axis(scores, keep, 0)


def _top_k_columns(scores: np.ndarray, k: int, first_row: int) -> np.ndarray:
    return np.argpartition(-scores, k - 1, axis=0)[:k] + first_row


def _one_pass(matrix, w) -> np.ndarray:
    if matrix.X16 is not None:
        from va_app.learn.lowp import float16_scores

        return float16_scores(matrix.X16, w)
    return matrix.X @ w


def _labelled(matrix, seed: int):
    """~1000 labels of a linear concept (the top 10 % along a direction), a few flipped."""
    from va_app.domain import TrainingSet

    rng = np.random.default_rng([seed, 3])
    direction = _unit(rng.standard_normal(matrix.X.shape[1]))
    along = _one_pass(matrix, direction)
    cut = np.partition(along, int(along.size * 0.9))[int(along.size * 0.9)]
    pos_pool, neg_pool = np.flatnonzero(along >= cut), np.flatnonzero(along < cut)
    pos = rng.choice(pos_pool, min(LABELLED // 2, pos_pool.size), replace=False)
    neg = rng.choice(neg_pool, LABELLED - pos.size, replace=False)
    flip = rng.random(LABELLED) < 0.03
    rows = np.r_[pos, neg]
    y = np.r_[np.ones(pos.size, bool), np.zeros(neg.size, bool)] ^ flip
    return TrainingSet(positives=matrix.ids.take(rows[y]), negatives=matrix.ids.take(rows[~y]))


# -- child processes ------------------------------------------------------------------------------
def child_main(mode: str, data_dir: str) -> None:
    """(In a fresh process) open the corpus as the app does (the page's quick health check,
    then the corpus and its matrix and search); ``open``: print the timings;
    ``hold``: also make a full pass, print memory figures, and stay until stdin closes."""
    t0 = time.perf_counter()
    from va_app.config import Settings
    from va_app.services import health
    from va_app.services.bootstrap import bootstrap

    imported = time.perf_counter()
    settings = Settings(data_dir=Path(data_dir), encoder="descriptor")
    health.check(settings, quick=True)  # what every page runs before opening the corpus
    checked = time.perf_counter()
    app = bootstrap(settings)
    matrix = app.view.matrix
    mapped = time.perf_counter()
    search = app.view.search
    ready = time.perf_counter()
    report: dict[str, Any] = {
        "import_s": round(imported - t0, 3),
        "open_s": round(ready - imported, 3),
        "check_s": round(checked - imported, 3),
        "matrix_s": round(mapped - checked, 3),
        "search_s": round(ready - mapped, 3),
        "shots": matrix.n_shots,
        "rss_mb_after_open": _rss_mb(),
    }
    if mode == "hold":
        w = _unit(np.random.default_rng(1).standard_normal(int(matrix.X.shape[1])))
        _one_pass(matrix, w)  # every page a build or an exact search reads (float16 if kept)
        report |= _smaps()
        report["matrix_mb"] = round(matrix.X.nbytes / 2**20, 1)
        report["scoring_copy"] = "float16" if matrix.X16 is not None else "none (float32)"
        del search
    print(json.dumps(report), flush=True)
    if mode == "hold":
        sys.stdin.read()


def _spawn(data_dir: Path, mode: str) -> subprocess.Popen:
    code = (
        "from va_app.research.bench.scale import child_main; "
        f"child_main({mode!r}, {str(data_dir)!r})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def _child(data_dir: Path, mode: str) -> dict:
    proc = _spawn(data_dir, mode)
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"the {mode} process failed: {err.strip()[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _smaps() -> dict:
    fields = {}
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    shared = fields.get("Shared_Clean", 0) + fields.get("Shared_Dirty", 0)
    return {
        "private_mb": round(private, 1),
        "shared_mb": round(shared, 1),
        "rss_mb": round(fields.get("Rss", 0), 1),
        "pss_mb": round(fields.get("Pss", 0), 1),
    }


# -- the page cache ------------------------------------------------------------------------------
def _corpus_files(data_dir: Path) -> list[Path]:
    return [p for p in Path(data_dir).iterdir() if p.is_file() and not p.name.endswith(".json")]


def drop_from_page_cache(files: list[Path]) -> dict:
    """``posix_fadvise(DONTNEED)`` on each file (after an fsync; only this corpus's pages, not
    the whole machine's cache as ``drop_caches`` would), then how much stayed resident, from
    ``mincore`` (``fincore``). Pages another process maps stay: run it with none open."""
    for path in files:
        drop_page_cache(path)
    return {
        "method": "fsync + posix_fadvise(POSIX_FADV_DONTNEED) per file",
        "resident_mb_after": _resident_mb(files),
    }


def _resident_mb(files: list[Path]) -> float | None:
    """Pages of ``files`` in the page cache (util-linux ``fincore``), None without it."""
    try:
        out = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--output", "RES", *map(str, files)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return round(sum(int(v) for v in out.stdout.split()) / 2**20, 1)


# -- small helpers -------------------------------------------------------------------------------
def _report(progress: Progress | None, done: int, total: int, stage: str) -> None:
    if progress is not None:
        progress(done, total, stage)


def _repeat(fn, n: int) -> list[float]:
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(_ms(t0))
    return out


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _p50(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0
