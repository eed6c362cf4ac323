"""Shot search over a real corpus (SQLite catalog, h5 matrix, Chroma index in tmp_path).

Every path — the HNSW index, brute force, filtered — must give exactly the brute-force top-k
on small data; filters, paging, keywords, "more like this" and query checks as a user sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from va_app.config import Settings
from va_app.errors import NotFoundError, ValidationError
from va_app.learn.matrix import CorpusMatrix
from va_app.search.shots import (
    MODE_KEYWORD,
    MODE_SEMANTIC,
    PATH_EXACT,
    PATH_FILTERED,
    PATH_INDEX,
    SCAN_FULL,
    SCAN_GATHER,
    SCAN_RUNS,
    SearchFilters,
    ShotSearch,
    ShotTable,
    filter_scan_plan,
    row_runs,
)
from va_app.store.corpus import Corpus
from va_app.store.schema import ShotRow, VideoRow

DIM = 16
K = 10
# key, title, genre, tags, shots
VIDEOS = [
    ("alpha", "Alpine Road Trip", "documentary", ["mountains", "cars"], 30),
    ("beta", "Night City Chase", "action", ["cars", "night"], 30),
    ("carshow", "The Car Show", "comedy", ["cars", "food"], 30),
    ("tokyo", "Café Ñandú 東京", "documentary", ["food"], 30),
]


def _vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=DIM)
    return (centre + rng.normal(size=(n, DIM))).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    corpus = Corpus(Settings(data_dir=tmp_path_factory.mktemp("search") / "data"))
    for seed, (key, title, genre, tags, n) in enumerate(VIDEOS):
        shots = [
            ShotRow(
                id=f"{key}|{i * 10}",
                idx=i,
                start_frame=i * 10,
                end_frame=i * 10 + 10 + 5 * (i % 5),
                start_s=i,
                fps=10.0,
                end_s=i + 1 + 0.5 * (i % 5),
            )
            for i in range(n)
        ]
        video_id = corpus.catalog.begin_video(
            VideoRow(key=key, path=f"/videos/{key}.mp4", title=title, genre=genre, tags=tags), shots
        )
        ids = [s.id for s in shots]
        corpus.matrix.append(ids, _vectors(n, seed), encoder_id="test:v1")
        corpus.catalog.mark_video_ready(video_id)
    ids, x = corpus.matrix.load()
    corpus.index.add(ids, x)
    yield corpus
    corpus.close()


@pytest.fixture(scope="module")
def matrix(corpus) -> CorpusMatrix:
    return CorpusMatrix.load(corpus)


@pytest.fixture(scope="module")
def indexed(corpus, matrix) -> ShotSearch:
    """Search that takes the HNSW path for unfiltered queries, however small the corpus."""
    return ShotSearch.from_corpus(corpus, matrix, exact_max_values=0)


@pytest.fixture(scope="module")
def small(corpus, matrix) -> ShotSearch:
    return ShotSearch.from_corpus(corpus, matrix)


def _queries(n: int = 5) -> np.ndarray:
    return np.random.default_rng(42).normal(size=(n, DIM)).astype(np.float32)


def _brute_force(matrix, q: np.ndarray, k: int, *, offset: int = 0, keep=None) -> list[str]:
    q = q / np.linalg.norm(q)
    scores = matrix.X @ q
    rows = np.arange(len(matrix.ids)) if keep is None else np.flatnonzero(keep)
    order = rows[np.argsort(-scores[rows], kind="stable")]
    return [matrix.ids[r] for r in order[offset : offset + k]]


def _ids(hits) -> list[str]:
    return [h.shot_id for h in hits]


def _shot(corpus: Corpus, shot_id: str):
    return corpus.shots([shot_id])[0]


# -- the paths ---------------------------------------------------------------------------------
def test_index_path_returns_the_brute_force_top_k(indexed, matrix):
    assert indexed.index_in_step and indexed.plan(K) == PATH_INDEX
    for q in _queries():
        hits = indexed.search_vector(q, K)
        assert _ids(hits) == _brute_force(matrix, q, K)
        sims = [h.similarity for h in hits]
        assert sims == sorted(sims, reverse=True) and -1.0 <= sims[-1] <= sims[0] <= 1.0


def test_index_similarities_are_exact_cosines(indexed, matrix):
    q = _queries(1)[0]
    hit = indexed.search_vector(q, 1)[0]
    row = matrix.row_of[hit.shot_id]
    assert hit.similarity == pytest.approx(float(matrix.X[row] @ (q / np.linalg.norm(q))), abs=1e-5)


def test_small_corpus_is_searched_exactly(small, matrix):
    assert small.plan(K) == PATH_EXACT
    for q in _queries():
        assert _ids(small.search_vector(q, K)) == _brute_force(matrix, q, K)


def test_index_out_of_step_with_the_matrix_falls_back_to_exact(tmp_path, matrix, corpus):
    from va_app.store.index import VectorIndex

    partial = VectorIndex(path=tmp_path / "chroma")
    partial.add(matrix.ids[:50], matrix.X[:50])
    search = ShotSearch(
        matrix, partial, ShotSearch.from_corpus(corpus, matrix).table, exact_max_values=0
    )
    assert not search.index_in_step and search.plan(K) == PATH_EXACT
    q = _queries(1)[0]
    assert _ids(search.search_vector(q, K)) == _brute_force(matrix, q, K)


def test_index_holding_other_shots_than_the_matrix_falls_back_to_exact(tmp_path, matrix, small):
    from va_app.store.index import VectorIndex

    q = _queries(1)[0]
    stale = VectorIndex(path=tmp_path / "chroma")
    # Same count as the matrix, but one shot was replaced by one the matrix does not know,
    # placed exactly where the query looks.
    ids, x = list(matrix.ids), matrix.X.copy()
    ids[0], x[0] = "gone|0", q / np.linalg.norm(q)
    stale.add(ids, x)
    search = ShotSearch(matrix, stale, small.table, exact_max_values=0)
    assert search.plan(K) == PATH_INDEX
    assert _ids(search.search_vector(q, K)) == _brute_force(matrix, q, K)
    assert search.plan(K) == PATH_EXACT  # remembered for the next query


def test_search_beam_can_be_changed_on_an_existing_index(tmp_path, matrix, small):
    from va_app.store.index import VectorIndex

    index = VectorIndex(path=tmp_path / "chroma", hnsw={"ef_search": 20})
    index.add(matrix.ids, matrix.X)
    assert index.hnsw_config()["ef_search"] == 20
    index.set_search_ef(300)
    assert index.hnsw_config()["ef_search"] == 300
    search = ShotSearch(matrix, index, small.table, exact_max_values=0)
    q = _queries(1)[0]
    assert search.plan(K) == PATH_INDEX
    assert _ids(search.search_vector(q, K)) == _brute_force(matrix, q, K)


def test_paging_walks_the_exact_ranking_on_every_path(indexed, small, matrix):
    q = _queries(1)[0]
    expected = _brute_force(matrix, q, 3 * K)
    for search in (indexed, small):
        pages = [_ids(search.search_vector(q, K, offset=o)) for o in (0, K, 2 * K)]
        assert sum(pages, []) == expected
    filters = SearchFilters(genres=("documentary",))
    keep = small.table.mask(filters)
    pages = [_ids(small.search_vector(q, 7, offset=o, filters=filters)) for o in (0, 7)]
    assert sum(pages, []) == _brute_force(matrix, q, 14, keep=keep)
    assert small.search_vector(q, K, offset=matrix.n_shots) == []


# -- filters -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "filters, allowed",
    [
        (SearchFilters(genres=("Documentary",)), lambda s: s.genre == "documentary"),
        (SearchFilters(videos=("beta", "tokyo")), lambda s: s.video_key in ("beta", "tokyo")),
        (
            SearchFilters(tags=("night", "mountains")),
            lambda s: {"night", "mountains"} & set(s.tags),
        ),
        (SearchFilters(title_contains="CHASE"), lambda s: s.video_key == "beta"),
        (SearchFilters(min_duration_s=2.0), lambda s: s.duration_s >= 2.0 - 1e-6),
        (
            SearchFilters(genres=("documentary",), tags=("food",), max_duration_s=1.5),
            lambda s: s.video_key == "tokyo" and s.duration_s <= 1.5 + 1e-6,
        ),
    ],
)
def test_filters_keep_exactly_the_matching_shots_ranked_exactly(
    indexed, matrix, corpus, filters, allowed
):
    assert indexed.plan(K, filters=filters) == PATH_FILTERED
    shots = {s.id: s for s in corpus.shots()}
    keep = np.array([bool(allowed(shots[i])) for i in matrix.ids])
    assert keep.any() and not keep.all()
    np.testing.assert_array_equal(indexed.table.mask(filters), keep)
    for q in _queries(3):
        hits = indexed.search_vector(q, K, filters=filters)
        assert _ids(hits) == _brute_force(matrix, q, K, keep=keep)


def test_a_filter_nothing_matches_gives_no_hits(indexed):
    filters = SearchFilters(genres=("western",))
    assert indexed.search_vector(_queries(1)[0], K, filters=filters) == []


def test_metadata_read_from_sql_columns_matches_the_shots(corpus, matrix, small):
    from_shots = ShotTable.from_shots(matrix.ids, corpus.shots())
    for filters in (
        SearchFilters(genres=("documentary",)),
        SearchFilters(tags=("night",)),
        SearchFilters(videos=("tokyo",), min_duration_s=1.5),
    ):
        np.testing.assert_array_equal(small.table.mask(filters), from_shots.mask(filters))
    np.testing.assert_allclose(small.table.duration_s, from_shots.duration_s)


def test_browse_lists_shots_in_corpus_order(small, matrix):
    assert _ids(small.browse(5, offset=2)) == matrix.ids[2:7]
    beta = _ids(small.browse(100, filters=SearchFilters(videos=("beta",))))
    assert beta == [i for i in matrix.ids if i.startswith("beta|")]


def test_filter_values_are_checked():
    with pytest.raises(ValidationError, match="shortest duration"):
        SearchFilters(min_duration_s=5, max_duration_s=2)
    with pytest.raises(ValidationError, match="0 s or more"):
        SearchFilters(min_duration_s=-1)
    assert SearchFilters(genres="drama").genres == ("drama",)
    assert not SearchFilters(genres=("", " ")).active


def test_row_runs_merge_close_rows():
    starts, stops = row_runs(np.array([0, 1, 2, 5, 20, 21]), gap=3)
    assert starts.tolist() == [0, 20] and stops.tolist() == [6, 22]


@dataclass
class _Matrix:
    ids: list[str]
    X: np.ndarray


@pytest.mark.parametrize(
    "filters, how",
    [
        (SearchFilters(videos=("v3",)), SCAN_RUNS),  # one video: 250 rows in a row
        (SearchFilters(max_duration_s=0.6), SCAN_GATHER),  # ~1 % of shots, scattered
        (SearchFilters(min_duration_s=2.0), SCAN_FULL),  # ~half of the shots
    ],
)
def test_every_way_of_scoring_a_filter_ranks_exactly(filters, how):
    rng = np.random.default_rng(5)
    n, per_video = 5000, 250
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    durations = rng.uniform(0.5, 4.0, n).astype(np.float32)
    table = ShotTable.from_arrays(
        np.arange(n) // per_video, durations, [(f"v{v}", "", "", ()) for v in range(n // per_video)]
    )
    matrix = _Matrix([f"v{r // per_video}|{r}" for r in range(n)], x)
    search = ShotSearch(matrix, None, table)
    keep = table.mask(filters)
    assert filter_scan_plan(np.flatnonzero(keep), n)[0] == how
    for q in rng.normal(size=(3, DIM)).astype(np.float32):
        hits = search.search_vector(q, K, filters=filters)
        assert _ids(hits) == _brute_force(matrix, q, K, keep=keep)


# -- more like this, keywords, text ------------------------------------------------------------
def test_similar_to_leaves_the_shot_itself_out(indexed, small, matrix):
    shot_id = matrix.ids[37]
    expected = [i for i in _brute_force(matrix, matrix.X[37], K + 1) if i != shot_id][:K]
    for search in (indexed, small):
        hits = search.similar_to(shot_id, K)
        assert shot_id not in _ids(hits) and _ids(hits) == expected
    filtered = small.similar_to(shot_id, K, filters=SearchFilters(videos=("alpha",)))
    assert filtered and all(h.shot_id.startswith("alpha|") for h in filtered)
    with pytest.raises(NotFoundError, match="nope"):
        small.similar_to("nope|0", K)


def test_keyword_search_needs_every_word_and_ranks_by_matched_fields(small, corpus):
    hits = small.keyword_search("car", 200)
    videos = [_shot(corpus, h.shot_id).video_key for h in hits]
    # "car" is in carshow's key, title and tags (3 fields), in alpha's and beta's tags (1).
    assert videos[:30] == ["carshow"] * 30 and set(videos[30:]) == {"alpha", "beta"}
    assert hits[0].similarity > hits[-1].similarity
    assert {_shot(corpus, h.shot_id).video_key for h in small.keyword_search("NIGHT cars", 99)} == {
        "beta"
    }
    assert small.keyword_search("night documentary", 99) == []
    assert {_shot(corpus, h.shot_id).video_key for h in small.keyword_search("東京", 99)} == {
        "tokyo"
    }
    page = small.keyword_search("car", 5, offset=28)
    assert _ids(page) == _ids(hits[28:33])
    food_docs = small.keyword_search("food", 99, filters=SearchFilters(genres=("documentary",)))
    assert {_shot(corpus, h.shot_id).video_key for h in food_docs} == {"tokyo"}


class TextTower:
    """A fake encoder with a text tower: every text maps to one fixed direction."""

    has_text = True

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector
        self.seen: list[str] = []

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.tile(self.vector, (len(texts), 1))


class NoTextTower:
    has_text = False

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("must not be called without a text tower")


def test_text_search_is_semantic_with_a_text_tower(indexed, matrix):
    q = _queries(1)[0]
    encoder = TextTower(q)
    result = indexed.search_text("  a car   chase at night 🚗 ", encoder, K)
    assert result.mode == MODE_SEMANTIC and result.notice == ""
    assert _ids(result.hits) == _brute_force(matrix, q, K)
    assert encoder.seen == ["a car chase at night 🚗"]


def test_text_search_without_a_text_tower_says_it_used_keywords(small, corpus):
    result = small.search_text("Night", NoTextTower(), K)
    assert result.mode == MODE_KEYWORD and "no text tower" in result.notice
    assert result.hits and all(_shot(corpus, h.shot_id).video_key == "beta" for h in result.hits)
    assert small.search_text("🚗", NoTextTower(), K).hits == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_asks_for_something_to_search(small, query):
    with pytest.raises(ValidationError, match="type something to search for"):
        small.search_text(query, NoTextTower(), K)


def test_overlong_query_is_refused_with_the_limit(small):
    with pytest.raises(ValidationError, match="at most 1,000 characters.*1,001"):
        small.search_text("x" * 1001, NoTextTower(), K)
    assert small.search_text("x" * 1000, NoTextTower(), K).hits == []


def test_query_vector_of_another_encoder_is_refused(small):
    with pytest.raises(ValidationError, match="8 dimensions, the corpus 16"):
        small.search_vector(np.ones(8, np.float32), K)
    with pytest.raises(ValidationError, match="zero"):
        small.search_vector(np.zeros(DIM, np.float32), K)
