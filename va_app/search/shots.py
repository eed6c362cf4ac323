"""Shot search: text, vector and "more like this" queries over the corpus, with metadata filters.

Owns the choice of path per query — whatever is fast *and* right (figures measured
at 500k shots on the 2-core development machine):

- **exact**: one pass ``X @ q`` over the in-memory matrix (rows are unit vectors, so the dot
  product is the cosine). Used when the corpus is small (brute force takes a few ms at most),
  when the Chroma index is not in step with the matrix (its count differs, or it returns an
  id the matrix lacks), and for deep pages.
- **index**: the Chroma HNSW index (tuned in ``va_app.store.index``) for unfiltered queries on
  a large corpus; its candidates are re-scored exactly against the matrix, so similarities are
  exact and ties break by row.
- **filtered**: exact search over the rows a metadata filter keeps. Shots of one video are
  stored next to each other, so a video/genre/tag filter keeps a few long runs of rows that are
  scored in place, without copying (< 1 ms when selective). Chroma's ``where`` filters
  are slower (190–660 ms at 500k) and approximate, so they are not used.

Text queries go through the encoder's text tower; an encoder without one (the offline
descriptor) falls back to :meth:`ShotSearch.keyword_search` over titles, genres, tags and video
names, and the result says so.

:meth:`ShotSearch.search` takes a whole :class:`SearchQuery` — words, an example shot ("more
like this"), metadata filters, in any combination — and is what the app and the CLI call:

- words + example, semantic: the query is the sum of the words' unit vector and the example's
  (both unit length, so each counts alike), the example itself left out;
- words + example, keywords: the shots whose metadata match the words, ranked by similarity
  to the example;
- several texts at once (zero-shot by a label's name, description and hints): their unit
  vectors are averaged (CLIP's prompt ensembling); with keywords a shot may match any of them;
- words pushed away ("car chase −police", a label's hint "−police";
  :mod:`va_app.search.negatives`): their mean unit vector, times :data:`NEGATIVE_WEIGHT`, is
  subtracted from the query's unit vector; with keywords, shots matching them are left out.
"""

from __future__ import annotations

import logging
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from va_app.domain import Shot
from va_app.encoders.base import NoTextTowerError
from va_app.errors import NotFoundError, ValidationError
from va_app.learn.feeds import top_positive_feed
from va_app.search.negatives import positives_and_negatives

log = logging.getLogger(__name__)

#: Longest text query accepted (CLIP reads 77 tokens anyway; longer input is a paste mistake).
MAX_QUERY_CHARS = 1000
#: How hard the words pushed away ("car chase −police") pull the query vector back: it is
#: ``q̂ − w·n̂``. Measured on the 2,000-shot demo (demo CLIP), "car chase" vs "car chase,
#: −police": see the README's search section.
NEGATIVE_WEIGHT = 0.5
#: Corpus size (rows × dims) up to which brute force is used instead of the index: 2^24
#: float32 values (64 MiB, 32k shots at 512-d) scan in ~2 ms here, about one index round trip.
EXACT_MAX_VALUES = 1 << 24
#: Deepest rank served by the index; deeper pages are exact (HNSW's beam would have to grow
#: past this anyway, and exact paging stays consistent page after page).
INDEX_MAX_RANK = 1000
#: Cost of scoring a filter's rows, in "rows of one sequential pass": a gathered (copied)
#: row costs ~8 (measured 7–9 here), each separate run of rows ~100 (one BLAS call, 5–10 µs).
#: A filter's rows are scored by whichever of full pass, runs in place or gather is cheapest.
GATHER_ROW_COST = 8
RUN_CALL_COST = 100

PATH_EXACT, PATH_INDEX, PATH_FILTERED = "exact", "index", "filtered"
SCAN_GATHER, SCAN_RUNS, SCAN_FULL = "gather", "runs", "full"
MODE_SEMANTIC, MODE_KEYWORD = "semantic", "keyword"
MODE_SIMILAR, MODE_BROWSE = "similar", "browse"
KEYWORD_NOTICE = (
    "Keyword search: the encoder in use has no text tower, so your words were matched against "
    "video titles, genres, tags and names, not against what the shots show. Use a CLIP encoder "
    "for searches by content."
)
_PUNCTUATION = string.punctuation + "“”‘’«»…"
#: ``--filter`` keys and the SearchFilters field each sets.
FILTER_KEYS = {
    "video": "videos",
    "genre": "genres",
    "tag": "tags",
    "title": "title_contains",
    "min_duration": "min_duration_s",
    "max_duration": "max_duration_s",
}


# -- values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchFilters:
    """Metadata restrictions; each field given must hold (AND), any value within a field (OR).

    ``videos``, ``genres`` and ``tags`` match case-insensitively and exactly; ``title_contains``
    is a case-insensitive substring; durations are in seconds, inclusive.
    """

    videos: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    title_contains: str = ""

    def __post_init__(self) -> None:
        for name in ("videos", "genres", "tags"):
            object.__setattr__(self, name, _text_tuple(name, getattr(self, name)))
        object.__setattr__(self, "title_contains", str(self.title_contains or "").strip())
        low, high = self.min_duration_s, self.max_duration_s
        for value in (low, high):
            if value is not None and not value >= 0:
                raise ValidationError(f"a duration filter must be 0 s or more, got {value}")
        if low is not None and high is not None and low > high:
            raise ValidationError(
                f"the shortest duration ({low:g} s) is longer than the longest ({high:g} s)"
            )

    @property
    def active(self) -> bool:
        return bool(
            self.videos
            or self.genres
            or self.tags
            or self.title_contains
            or self.min_duration_s is not None
            or self.max_duration_s is not None
        )

    @classmethod
    def from_pairs(cls, pairs: Iterable[str]) -> SearchFilters:
        """Filters from ``KEY=VALUE`` strings (the CLI's ``--filter``); a key given twice
        accepts either value. Keys: video, genre, tag, title (part of it), min_duration,
        max_duration (seconds)."""
        lists: dict[str, list[str]] = {"videos": [], "genres": [], "tags": []}
        single: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = str(pair).partition("=")
            key = key.strip().lower().replace("-", "_")
            if not sep or key not in FILTER_KEYS:
                raise ValidationError(
                    f"filter {pair!r}: use KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}"
                )
            field_name = FILTER_KEYS[key]
            if field_name in lists:
                lists[field_name].append(value)
            elif field_name == "title_contains":
                single[field_name] = value
            else:
                single[field_name] = _seconds(pair, value)
        return cls(
            videos=tuple(lists["videos"]),
            genres=tuple(lists["genres"]),
            tags=tuple(lists["tags"]),
            **single,
        )


@dataclass(frozen=True, eq=False)
class SearchQuery:
    """One search as a user asks it; every part is optional and the parts combine (AND).

    ``texts``: descriptions (one typed query, or a label's name, description and hints for a
    zero-shot search); ``vector``: a ready text vector instead (an imported corpus's stored
    label embedding); ``like``: the id of an example shot; ``filters``: metadata.
    """

    texts: tuple[str, ...] = ()
    like: str | None = None
    filters: SearchFilters = field(default_factory=SearchFilters)
    vector: np.ndarray | None = None

    def __post_init__(self) -> None:
        texts = (self.texts,) if isinstance(self.texts, str) else tuple(self.texts)
        object.__setattr__(self, "texts", tuple(validate_query(t) for t in texts if str(t).strip()))
        object.__setattr__(self, "like", str(self.like).strip() if self.like else None)
        if self.negatives and not (self.words or self.vector is not None or self.like):
            pushed = ", ".join(f"“{word}”" for word in self.negatives)
            raise ValidationError(
                f"{pushed} only says what to push away: add words to look for, "
                "e.g. “car chase −police”"
            )

    @property
    def words(self) -> tuple[str, ...]:
        """The texts without their negative parts: what to look for."""
        return positives_and_negatives(self.texts)[0]

    @property
    def negatives(self) -> tuple[str, ...]:
        """The words to push away ("car chase −police" → "police"; see
        :mod:`va_app.search.negatives`)."""
        return positives_and_negatives(self.texts)[1]

    @property
    def has_words(self) -> bool:
        return bool(self.words) or self.vector is not None


@dataclass(frozen=True)
class SearchHit:
    shot_id: str
    similarity: float


@dataclass(frozen=True)
class SearchResult:
    """Hits of a text search, how they were found (``semantic`` | ``keyword``) and why."""

    hits: list[SearchHit]
    mode: str
    notice: str = ""


class MatrixLike(Protocol):
    """What search reads of a matrix; read-only, so a frozen ``CorpusMatrix`` matches."""

    @property
    def ids(self) -> Sequence[str]: ...

    @property
    def X(self) -> np.ndarray: ...


class TextEncoder(Protocol):
    has_text: bool

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


# -- per-row metadata ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShotTable:
    """Shot metadata aligned with the matrix rows, as arrays for fast masks.

    Title, genre and tags belong to a video, so they are kept once per video and each row
    points at its video (``video_of_row``, -1 for a row the catalog does not know).
    """

    video_of_row: np.ndarray
    duration_s: np.ndarray
    video_keys: tuple[str, ...]
    titles: tuple[str, ...]
    genres: tuple[str, ...]
    tags: tuple[tuple[str, ...], ...]

    @classmethod
    def from_shots(cls, ids: Sequence[str], shots: Iterable[Shot]) -> ShotTable:
        """Align ``shots`` (any order, any subset) with the matrix rows ``ids``."""
        by_id = {shot.id: shot for shot in shots}
        code_of: dict[str, int] = {}
        videos: list[tuple[str, str, str, tuple[str, ...]]] = []
        codes = np.full(len(ids), -1, dtype=np.int32)
        durations = np.full(len(ids), np.nan, dtype=np.float32)
        for row, shot_id in enumerate(ids):
            shot = by_id.get(shot_id)
            if shot is None:
                continue
            if shot.video_key not in code_of:
                code_of[shot.video_key] = len(videos)
                videos.append((shot.video_key, shot.title, shot.genre, tuple(shot.tags)))
            codes[row], durations[row] = code_of[shot.video_key], shot.duration_s
        return cls.from_arrays(codes, durations, videos)

    @classmethod
    def from_catalog(cls, catalog: Any, ids: Sequence[str]) -> ShotTable:
        """Like :meth:`from_shots` for every visible shot of ``catalog``, read as plain
        columns (:meth:`va_app.store.catalog.Catalog.shot_columns`)."""
        videos, shots = catalog.shot_columns()
        code_of = {video[0]: code for code, video in enumerate(videos)}
        by_id = {shot_id: (code_of[video], end - start) for shot_id, video, start, end in shots}
        found = [by_id.get(shot_id, (-1, np.nan)) for shot_id in ids]
        return cls.from_arrays(
            np.array([f[0] for f in found], dtype=np.int32),
            np.array([f[1] for f in found], dtype=np.float32),
            [(key, title, genre, tags or ()) for _, key, title, genre, tags in videos],
        )

    @classmethod
    def from_video_ids(
        cls, catalog: Any, video_ids: np.ndarray, duration_s: np.ndarray
    ) -> ShotTable:
        """From each row's catalog video id and duration (stored in the compacted matrix file)
        and the visible videos' columns: no query per shot."""
        videos = sorted(catalog.video_columns())
        known = np.array([v[0] for v in videos], dtype=np.int64)
        at = np.minimum(np.searchsorted(known, video_ids), max(len(known) - 1, 0))
        found = known.size > 0
        codes = np.where(found & (known[at] == video_ids) if found else False, at, -1)
        return cls.from_arrays(
            np.asarray(codes, dtype=np.int32).reshape(-1),
            duration_s,
            [(key, title, genre, tags or ()) for _, key, title, genre, tags in videos],
        )

    @classmethod
    def from_arrays(
        cls,
        video_of_row: np.ndarray,
        duration_s: np.ndarray,
        videos: Sequence[tuple[str, str, str, Sequence[str]]],
    ) -> ShotTable:
        """Rows' video codes and durations, plus ``(key, title, genre, tags)`` per video."""
        video_of_row = np.asarray(video_of_row, dtype=np.int32)
        duration_s = np.asarray(duration_s, dtype=np.float32)
        if video_of_row.shape != duration_s.shape or video_of_row.ndim != 1:
            raise ValueError("video codes and durations must be 1-D, one per matrix row")
        if video_of_row.size and video_of_row.max() >= len(videos):
            raise ValueError("a row points at a video that is not in the table")
        return cls(
            video_of_row,
            duration_s,
            tuple(str(v[0]) for v in videos),
            tuple(str(v[1] or "") for v in videos),
            tuple(str(v[2] or "") for v in videos),
            tuple(tuple(str(t) for t in v[3] or ()) for v in videos),
        )

    @property
    def n_rows(self) -> int:
        return int(self.video_of_row.size)

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """Boolean mask over the rows that satisfy every field of ``filters``."""
        videos_ok = self._videos_matching(filters)
        known = self.video_of_row >= 0
        mask = known & videos_ok[np.where(known, self.video_of_row, 0)]
        if filters.min_duration_s is not None:
            mask &= self.duration_s >= np.float32(filters.min_duration_s) - np.float32(1e-6)
        if filters.max_duration_s is not None:
            mask &= self.duration_s <= np.float32(filters.max_duration_s) + np.float32(1e-6)
        return mask

    @cached_property
    def searchable(self) -> tuple[tuple[str, str, str, str], ...]:
        """Per video, the case-folded text keyword search reads: title, genre, tags, key."""
        return tuple(
            (title.casefold(), genre.casefold(), " ".join(tags).casefold(), key.casefold())
            for title, genre, tags, key in zip(self.titles, self.genres, self.tags, self.video_keys)
        )

    @cached_property
    def _code_of_key(self) -> dict[str, int]:
        return {key.casefold(): code for code, key in enumerate(self.video_keys)}

    def _videos_matching(self, filters: SearchFilters) -> np.ndarray:
        ok = np.ones(len(self.video_keys) or 1, dtype=bool)
        if filters.videos:
            wanted = [self._code_of_key.get(v.casefold(), -1) for v in filters.videos]
            ok &= np.isin(np.arange(ok.size), wanted)
        if filters.genres:
            genres = {g.casefold() for g in filters.genres}
            ok &= _per_video(self.genres, lambda g: g.casefold() in genres, ok.size)
        if filters.tags:
            tags = {t.casefold() for t in filters.tags}
            ok &= _per_video(self.tags, lambda ts: any(t.casefold() in tags for t in ts), ok.size)
        if filters.title_contains:
            part = filters.title_contains.casefold()
            ok &= _per_video(self.titles, lambda t: part in t.casefold(), ok.size)
        return ok


# -- the search ----------------------------------------------------------------------------
class ShotSearch:
    """Top-k search over every shot of the corpus; see the module docstring for the paths."""

    def __init__(
        self,
        matrix: MatrixLike,
        index: Any | None,
        table: ShotTable,
        *,
        exact_max_values: int | None = None,
    ) -> None:
        self.ids: Sequence[str] = matrix.ids
        self.X: np.ndarray = matrix.X
        #: The float16 scoring copy of a big corpus (None: score float32 directly).
        self.X16: np.ndarray | None = getattr(matrix, "X16", None)
        if table.n_rows != len(self.ids) or self.X.shape[0] != len(self.ids):
            raise ValueError(
                f"{len(self.ids)} ids, {self.X.shape[0]} matrix rows and "
                f"{table.n_rows} metadata rows must agree"
            )
        self.table = table
        self._row_of: dict[str, int] = getattr(matrix, "row_of", None) or {
            shot_id: row for row, shot_id in enumerate(self.ids)
        }
        self._index = index
        self._exact_max_values = EXACT_MAX_VALUES if exact_max_values is None else exact_max_values
        self._index_in_step = index is not None and _index_count(index) == len(self.ids)

    @classmethod
    def from_corpus(cls, corpus: Any, matrix: MatrixLike, **options: Any) -> ShotSearch:
        """Search over ``matrix`` (a loaded ``CorpusMatrix``) with the corpus's index and
        catalog."""
        video_ids = getattr(matrix, "video_ids", None)
        duration_s = getattr(matrix, "duration_s", None)
        if video_ids is not None:
            assert duration_s is not None, "a current stamp stores video ids and durations alike"
            table = ShotTable.from_video_ids(corpus.catalog, video_ids, duration_s)
        else:
            table = ShotTable.from_catalog(corpus.catalog, matrix.ids)
        return cls(matrix, corpus.index, table, **options)

    @property
    def n_shots(self) -> int:
        return len(self.ids)

    @property
    def index_in_step(self) -> bool:
        """Whether the Chroma index holds exactly the matrix's shots (as far as counts tell)."""
        return self._index_in_step

    @property
    def needs_index(self) -> bool:
        """Whether unfiltered queries go to the index once it is in step (a corpus too large
        to scan for every query); below that size search is exact anyway."""
        return self._index is not None and self.X.size > self._exact_max_values

    def plan(self, k: int, *, filters: SearchFilters | None = None, offset: int = 0) -> str:
        """The path a query would take: ``"index"``, ``"exact"`` or ``"filtered"``."""
        if filters is not None and filters.active:
            return PATH_FILTERED
        if not self.needs_index or not self._index_in_step or offset + k > INDEX_MAX_RANK:
            return PATH_EXACT
        return PATH_INDEX

    def search_vector(
        self, vector: np.ndarray, k: int, *, filters: SearchFilters | None = None, offset: int = 0
    ) -> list[SearchHit]:
        """The shots ranked ``offset .. offset+k-1`` by cosine similarity to ``vector``."""
        q = self._query_vector(vector)
        k, offset = _check_page(k, offset)
        if k == 0 or self.n_shots == 0:
            return []
        path = self.plan(k, filters=filters, offset=offset)
        if path == PATH_INDEX:
            hits = self._index_search(q, k, offset)
            if hits is not None:
                return hits
        # plan() picks the filtered path only for active filters
        mask = self.table.mask(filters) if filters is not None and path == PATH_FILTERED else None
        return self._ranked(q, k, offset, mask)

    def similar_to(
        self, shot_id: str, k: int, *, filters: SearchFilters | None = None, offset: int = 0
    ) -> list[SearchHit]:
        """ "More like this": the shots closest to ``shot_id``, the shot itself left out."""
        example = self.X[self._row(shot_id)]
        k, offset = _check_page(k, offset)
        return _without(
            shot_id, k, lambda n: self.search_vector(example, n, filters=filters, offset=offset)
        )

    def keyword_search(
        self, query: str, k: int, *, filters: SearchFilters | None = None, offset: int = 0
    ) -> list[SearchHit]:
        """Shots whose video's title, genre, tags or key contain every word of ``query``.

        Case-insensitive substring matches; ranked by how many of the four fields match at
        least one word (``similarity`` = that count / 4), then by corpus order.
        """
        return self._keyword_union([query], k, filters, offset)

    def search_text(
        self,
        query: str,
        encoder: TextEncoder | None,
        k: int,
        *,
        filters: SearchFilters | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """Search by a description: semantic with a text tower, else keywords (and a notice)."""
        text = validate_query(query)
        if encoder is not None and getattr(encoder, "has_text", False):
            try:
                vector = np.asarray(encoder.encode_texts([text]), dtype=np.float32)[0]
            except NoTextTowerError:
                pass
            else:
                hits = self.search_vector(vector, k, filters=filters, offset=offset)
                return SearchResult(_as_text_similarity(hits, encoder), MODE_SEMANTIC)
        hits = self.keyword_search(text, k, filters=filters, offset=offset)
        return SearchResult(hits, MODE_KEYWORD, KEYWORD_NOTICE)

    def search(
        self, query: SearchQuery, encoder: TextEncoder | None, k: int, *, offset: int = 0
    ) -> SearchResult:
        """Whatever ``query`` combines — words, an example, filters; see the module docstring."""
        filters, like = query.filters, query.like
        if not query.has_words:
            if like is None:
                return SearchResult(self.browse(k, filters=filters, offset=offset), MODE_BROWSE)
            return SearchResult(
                self.similar_to(like, k, filters=filters, offset=offset), MODE_SIMILAR
            )
        vector = (
            query.vector if query.vector is not None else self._text_vector(query.words, encoder)
        )
        k, offset = _check_page(k, offset)
        if vector is not None:
            vector = self._push_away(vector, query.negatives, encoder)
            if like is not None:
                vector = self._query_vector(vector) + self.X[self._row(like)]
            hits = _without(
                like, k, lambda n: self.search_vector(vector, n, filters=filters, offset=offset)
            )
            if like is None and query.vector is None:
                hits = _as_text_similarity(hits, encoder)
            return SearchResult(hits, MODE_SEMANTIC)
        if like is None:
            hits = self._keyword_union(query.words, k, filters, offset, away=query.negatives)
        else:
            keep = self._keyword_ranks(query.words) > 0
            if query.negatives:
                keep &= self._keyword_ranks(query.negatives) == 0
            if filters.active:
                keep &= self.table.mask(filters)
            example = self.X[self._row(like)]
            hits = _without(like, k, lambda n: self._masked_search(example, n, keep, offset))
        return SearchResult(hits, MODE_KEYWORD, KEYWORD_NOTICE)

    def browse(
        self, k: int, *, filters: SearchFilters | None = None, offset: int = 0
    ) -> list[SearchHit]:
        """Shots in corpus order (filtered), for looking around before typing a query."""
        k, offset = _check_page(k, offset)
        rows = (
            np.flatnonzero(self.table.mask(filters))
            if filters is not None and filters.active
            else np.arange(self.n_shots)
        )
        return [SearchHit(self.ids[r], 0.0) for r in rows[offset : offset + k]]

    # -- combining ---------------------------------------------------------------------------
    def _positions(self, shot_ids: list[str]) -> np.ndarray:
        """The row of each id (-1 where the matrix has none), all at once where possible."""
        if hasattr(self._row_of, "positions"):
            return self._row_of.positions(shot_ids)
        return np.fromiter((self._row_of.get(i, -1) for i in shot_ids), np.intp, len(shot_ids))

    def _row(self, shot_id: str) -> int:
        row = self._row_of.get(shot_id)
        if row is None:
            raise NotFoundError(f"shot {shot_id!r} is not in the corpus (was it re-ingested?)")
        return row

    def _text_vector(self, texts: Sequence[str], encoder: TextEncoder | None) -> np.ndarray | None:
        """The mean of the texts' unit vectors, or None without a text tower."""
        if encoder is None or not getattr(encoder, "has_text", False):
            return None
        try:
            vectors = np.asarray(encoder.encode_texts(list(texts)), dtype=np.float32)
        except NoTextTowerError:
            return None
        return vectors.mean(axis=0)

    def _push_away(
        self, vector: np.ndarray, negatives: Sequence[str], encoder: TextEncoder | None
    ) -> np.ndarray:
        """``q̂ − NEGATIVE_WEIGHT · n̂``: the query's unit vector minus that of the words
        pushed away (their texts' mean). Without negatives or a text tower: ``vector``."""
        away = self._text_vector(negatives, encoder) if negatives else None
        if away is None:
            return vector
        return self._query_vector(vector) - np.float32(NEGATIVE_WEIGHT) * self._query_vector(away)

    def _masked_search(
        self, vector: np.ndarray, k: int, mask: np.ndarray, offset: int
    ) -> list[SearchHit]:
        q = self._query_vector(vector)
        if k == 0 or not mask.any():
            return []
        return self._ranked(q, k, offset, mask)

    def _ranked(
        self, q: np.ndarray, k: int, offset: int, mask: np.ndarray | None
    ) -> list[SearchHit]:
        """Exact ranks ``offset .. offset+k-1`` over every row (or ``mask``'s): one pass over
        the float32 matrix (its map, no copy), or over the float16 copy with the top
        re-checked in float32 (:mod:`va_app.learn.lowp`: the same hits)."""
        if self.X16 is None:
            rows, scores = (None, self.X @ q) if mask is None else self._filtered_scores(q, mask)
            return self._page(rows, scores, k, offset)
        from va_app.learn.lowp import Funnel, smallest

        funnel = Funnel.for_search(self.X, self.X16, q)
        if mask is None:
            rows, approx = None, funnel.approximate()
        else:
            rows, approx = self._filtered_scores(q, mask, X=self.X16)
        picked = smallest(funnel, np.negative, approx, offset + k, rows=rows)
        found = np.searchsorted(picked.scored_rows, picked.rows[offset:])
        return [
            SearchHit(self.ids[int(r)], float(picked.scores[i]))
            for r, i in zip(picked.rows[offset:], found)
        ]

    def _keyword_ranks(self, texts: Sequence[str]) -> np.ndarray:
        """Per row, the most metadata fields any one text's words all match (0: none)."""
        codes = self.table.video_of_row
        best = np.zeros(self.n_shots, dtype=np.int64)
        for text in texts:
            words = query_words(text)
            per_video = np.array(
                [_fields_matched(fields, words) for fields in self.table.searchable] or [0]
            )
            best = np.maximum(best, np.where(codes >= 0, per_video[np.maximum(codes, 0)], 0))
        return best

    def _keyword_union(
        self,
        texts: Sequence[str],
        k: int,
        filters: SearchFilters | None,
        offset: int,
        *,
        away: Sequence[str] = (),
    ) -> list[SearchHit]:
        """Shots matching any of ``texts`` (see :meth:`keyword_search`) and none of ``away``,
        best-matched first."""
        k, offset = _check_page(k, offset)
        rank = self._keyword_ranks(texts)
        if k == 0 or self.n_shots == 0:
            return []
        if away:
            rank = np.where(self._keyword_ranks(away) > 0, 0, rank)
        if filters is not None and filters.active:
            rank = np.where(self.table.mask(filters), rank, 0)
        rows = np.flatnonzero(rank > 0)
        order = rows[np.lexsort((rows, -rank[rows]))][offset : offset + k]
        return [SearchHit(self.ids[r], float(rank[r]) / 4) for r in order]

    # -- paths -------------------------------------------------------------------------------
    def _index_search(self, q: np.ndarray, k: int, offset: int) -> list[SearchHit] | None:
        """Top ``offset + k`` by the index, re-scored exactly; None when the index cannot serve."""
        wanted = offset + k
        assert self._index is not None, "plan() picks the index path only with an index"
        try:
            found = self._index.query(q, wanted)
        except Exception as exc:  # noqa: BLE001 — any index failure: exact search is still right
            log.warning("vector index query failed, using exact search: %s", exc)
            self._index_in_step = False
            return None
        rows = self._positions([hit.id for hit in found])
        if (rows < 0).any() or len(rows) < min(wanted, self.n_shots):
            self._index_in_step = False  # the index holds other shots than the matrix
            return None
        scores = self.X[rows] @ q
        order = np.lexsort((rows, -scores))[offset : offset + k]
        return [SearchHit(self.ids[rows[i]], float(scores[i])) for i in order]

    def _filtered_scores(
        self, q: np.ndarray, mask: np.ndarray, *, X: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows kept by ``mask`` and their similarities, scored the cheapest way: only those
        rows are read (in runs in place, or gathered), unless a full pass costs less."""
        X = self.X if X is None else X
        rows = np.flatnonzero(mask)
        how, starts, stops = filter_scan_plan(rows, self.n_shots)
        if how == SCAN_GATHER:
            return rows, _matvec(X[rows], q)
        if how == SCAN_FULL:
            return rows, _matvec(X, q)[rows]
        scores = np.empty(self.n_shots, dtype=np.float32)
        for start, stop in zip(starts.tolist(), stops.tolist()):
            scores[start:stop] = _matvec(X[start:stop], q)
        return rows, scores[rows]

    def _page(
        self, rows: np.ndarray | None, scores: np.ndarray, k: int, offset: int
    ) -> list[SearchHit]:
        top = top_positive_feed(scores, offset + k)[offset:]
        picked = top if rows is None else rows[top]
        return [SearchHit(self.ids[r], float(s)) for r, s in zip(picked, scores[top])]

    def _query_vector(self, vector: np.ndarray) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32).ravel()
        dim = self.X.shape[1] if self.X.ndim == 2 else 0
        if q.size != dim:
            raise ValidationError(
                f"the query vector has {q.size} dimensions, the corpus {dim}: "
                "was it made by another encoder?"
            )
        norm = float(np.linalg.norm(q))
        if not np.isfinite(norm) or norm == 0:
            raise ValidationError("the query vector is zero or not finite")
        return q / np.float32(norm)


# -- helpers -------------------------------------------------------------------------------
def _matvec(X: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``X @ q`` as float32: numpy's BLAS for float32 rows, torch's kernel for float16 ones
    (numpy would first cast the whole float16 block to float32)."""
    if X.dtype == np.float16:
        from va_app.learn.lowp import float16_scores

        return float16_scores(X, q)
    return X @ q


def _as_text_similarity(hits: list[SearchHit], encoder: TextEncoder | None) -> list[SearchHit]:
    """Text hits with the similarity the text tower itself gives: an encoder whose shot vectors
    hold more than its CLIP part (the demo's CLIP beside the descriptor) scales it back up."""
    scale = float(getattr(encoder, "text_similarity_scale", 1.0))
    return hits if scale == 1.0 else [SearchHit(h.shot_id, h.similarity * scale) for h in hits]


def validate_query(query: Any) -> str:
    """The query as searched: NFC, whitespace collapsed; raises ValidationError when unusable."""
    if not isinstance(query, str):
        raise ValidationError("type something to search for")
    text = " ".join(unicodedata.normalize("NFC", query).split())
    if not text:
        raise ValidationError("type something to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError(
            f"a search can be at most {MAX_QUERY_CHARS:,} characters and this one has "
            f"{len(text):,}: shorten it to the words that matter"
        )
    return text


def query_words(query: str) -> list[str]:
    """Case-folded words of a keyword query, surrounding punctuation removed."""
    words = [w.strip(_PUNCTUATION) for w in validate_query(query).casefold().split()]
    return [w for w in words if w] or validate_query(query).casefold().split()


def filter_scan_plan(rows: np.ndarray, n_rows: int) -> tuple[str, np.ndarray, np.ndarray]:
    """How to score the sorted ``rows`` of an ``n_rows`` matrix: ``"full"`` pass, ``"runs"``
    scored in place (with their ``starts``/``stops``) or ``"gather"`` (copy the rows).

    Costs in rows of a sequential pass: full = n_rows; runs = rows covered + RUN_CALL_COST per
    run (rows fewer than RUN_CALL_COST apart share a run); gather = GATHER_ROW_COST per row.
    """
    starts, stops = row_runs(rows, gap=RUN_CALL_COST)
    costs = {
        SCAN_GATHER: GATHER_ROW_COST * rows.size,
        SCAN_RUNS: int((stops - starts).sum()) + RUN_CALL_COST * starts.size,
        SCAN_FULL: n_rows,
    }
    return min(costs, key=costs.__getitem__), starts, stops


def row_runs(rows: np.ndarray, *, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices as half-open runs ``[start, stop)``, merging runs ``< gap`` apart."""
    if rows.size == 0:
        return rows[:0], rows[:0]
    breaks = np.flatnonzero(np.diff(rows) > gap)
    starts = np.r_[rows[0], rows[breaks + 1]]
    stops = np.r_[rows[breaks], rows[-1]] + 1
    return starts, stops


def _without(like: str | None, k: int, run) -> list[SearchHit]:
    """``run(n)``'s first ``k`` hits with the example shot ``like`` left out."""
    if like is None:
        return run(k)
    return [hit for hit in run(k + 1) if hit.shot_id != like][:k]


def _fields_matched(fields: tuple[str, ...], words: list[str]) -> int:
    """How many fields contain a word, or 0 unless every word is in some field."""
    if not all(any(w in f for f in fields) for w in words):
        return 0
    return sum(any(w in f for w in words) for f in fields)


def _per_video(values: Sequence[Any], test, size: int) -> np.ndarray:
    return (
        np.fromiter((test(v) for v in values), dtype=bool, count=len(values))
        if values
        else np.zeros(size, dtype=bool)
    )


def _index_count(index: Any) -> int:
    try:
        return int(index.count())
    except Exception as exc:  # noqa: BLE001 — an unusable index means "not in step"
        log.warning("vector index unavailable, using exact search: %s", exc)
        return -1


def _check_page(k: int, offset: int) -> tuple[int, int]:
    for name, value in (("k", k), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValidationError(f"{name} must be a whole number of 0 or more, got {value!r}")
    return int(k), int(offset)


def _seconds(pair: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValidationError(
            f"filter {pair!r}: the duration must be a number of seconds"
        ) from None


def _text_tuple(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    try:
        cleaned = tuple(str(v).strip() for v in values)
    except TypeError:
        raise ValidationError(f"filter {name} must be a list of names") from None
    return tuple(v for v in cleaned if v)
