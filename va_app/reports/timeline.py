"""The per-title timeline: where a label's shots are in each video — its data and its figure.

For a label and its latest model, every video is a strip of its shots in time order, coloured
by score (grey below the threshold, orange to red above it), the shots labelled positive and
negative marked above and below the strip. Managers read per title how much is labelled and
where the positives are (:func:`title_summaries`); experts click a shot to play and label it.

Two parts, for speed at hundreds of titles and at 3-hour titles of thousands of shots:

- :class:`ShotTimes` — every shot's video, start and end, grouped by video in time order, and
  its row in the embedding matrix: read once per corpus version (:func:`shot_times`);
- :class:`TitleStrip` — one video's shots with this run's scores and labels, made per page of
  titles in a few vectorised steps (:func:`title_strips`).

:func:`timeline_figure` draws a page of strips as one Plotly figure: a heatmap row per title
(one raster, however many shots) and, for clicks and hover, a WebGL scatter of the shots'
middles whose ``customdata`` is the shot id (what ``st.plotly_chart(on_select=...)`` hands
back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from va_app.reports.charts import NEGATIVE_COLOUR, POSITIVE_COLOUR, TEMPLATE

#: Label codes of a shot on a strip.
UNLABELLED, NEGATIVE, POSITIVE, TIE = -1, 0, 1, 2
#: Titles per page of the figure: enough to compare, few enough to read and to draw fast.
DEFAULT_PAGE_SIZE = 8
SORTS = ("title", "positives", "labelled")
#: Pixels per strip (with its title and time axis) in the figure, of which this many between
#: one strip and the next; and the figure's own title and margins.
ROW_HEIGHT = 96
ROW_GAP = 52
FIGURE_MARGIN = 90
BELOW_COLOURS = ("#f0f0f0", "#b5b5b5")  # scores under the threshold: light to mid grey
ABOVE_COLOURS = ("#fdd49e", "#b30000")  # scores at or over it: light orange to dark red
UNSCORED_COLOUR = "#cfd8dc"
SELECTED_COLOUR = "#1f5fa8"
#: Tick steps (seconds) of a strip's time axis: about six ticks whatever the title's length.
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True, eq=False)
class ShotTimes:
    """Every visible shot grouped by video (catalog order), each video's shots by time."""

    video_keys: list[str]
    titles: list[str]
    #: Shots of video ``v`` are ``bounds[v]:bounds[v + 1]`` of the arrays below.
    bounds: np.ndarray
    shot_ids: np.ndarray  # object array of str
    starts: np.ndarray  # seconds, float64
    ends: np.ndarray
    #: Row of each shot in the embedding matrix (-1: none), to look scores up in one step.
    matrix_rows: np.ndarray
    #: Shot id -> position, to lay labels over the shots without a pass over all of them.
    index: pd.Index

    @property
    def n_videos(self) -> int:
        return len(self.video_keys)

    def durations(self) -> np.ndarray:
        """Each video's length: the end of its last shot."""
        last = self.bounds[1:] - 1
        out = np.zeros(self.n_videos)
        has = self.bounds[1:] > self.bounds[:-1]
        out[has] = self.ends[last[has]]
        return out


@dataclass(frozen=True, eq=False)
class TitleStrip:
    """One video's shots in time order, with scores (NaN: none) and label codes."""

    video_key: str
    title: str
    shot_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @property
    def duration_s(self) -> float:
        return float(self.ends[-1]) if len(self.ends) else 0.0


def build_shot_times(
    videos: Sequence[tuple], shots: Sequence[tuple], matrix_ids: Sequence[str]
) -> ShotTimes:
    """From ``(id, key, title, ...)`` per video and ``(id, video id, start_s, end_s)`` per
    shot (:meth:`Catalog.shot_columns`) and the matrix's row order."""
    order = {video[0]: i for i, video in enumerate(videos)}
    ids = np.array([s[0] for s in shots], dtype=object)
    video_of = np.array([order.get(s[1], -1) for s in shots], dtype=np.int64)
    starts = np.array([s[2] for s in shots], dtype=np.float64)
    ends = np.array([s[3] for s in shots], dtype=np.float64)
    keep = np.flatnonzero(video_of >= 0)
    sort = keep[np.lexsort((starts[keep], video_of[keep]))]
    row_of = {shot_id: row for row, shot_id in enumerate(matrix_ids)}
    rows = np.array([row_of.get(i, -1) for i in ids[sort]], dtype=np.int64)
    counts = np.bincount(video_of[sort], minlength=len(videos))
    return ShotTimes(
        video_keys=[v[1] for v in videos],
        titles=[v[2] or v[1] for v in videos],
        bounds=np.concatenate([[0], np.cumsum(counts)]),
        shot_ids=ids[sort],
        starts=starts[sort],
        ends=ends[sort],
        matrix_rows=rows,
        index=pd.Index(ids[sort]),
    )


def shot_scores(times: ShotTimes, probabilities: np.ndarray | None) -> np.ndarray:
    """Each shot's probability (in ``times``' order; NaN without a model or a vector)."""
    scores = np.full(len(times.shot_ids), np.nan)
    if probabilities is None or not len(probabilities):
        return scores
    has = times.matrix_rows >= 0
    scores[has] = np.asarray(probabilities, dtype=np.float64)[times.matrix_rows[has]]
    return scores


def shot_labels(
    times: ShotTimes, *, positives: Sequence[str], negatives: Sequence[str], ties: Sequence[str]
) -> np.ndarray:
    """Each shot's label code (in ``times``' order) from the label's current verdicts."""
    codes = np.full(len(times.shot_ids), UNLABELLED, dtype=np.int8)
    if not (len(positives) or len(negatives) or len(ties)):
        return codes
    for ids, code in ((positives, POSITIVE), (negatives, NEGATIVE), (ties, TIE)):
        rows = times.index.get_indexer(list(ids))
        codes[rows[rows >= 0]] = code
    return codes


def title_strips(
    times: ShotTimes, scores: np.ndarray, labels: np.ndarray, videos: Sequence[int]
) -> list[TitleStrip]:
    """The strips of the videos at positions ``videos`` of ``times``."""
    strips = []
    for v in videos:
        part = slice(times.bounds[v], times.bounds[v + 1])
        strips.append(
            TitleStrip(
                times.video_keys[v],
                times.titles[v],
                times.shot_ids[part],
                times.starts[part],
                times.ends[part],
                scores[part],
                labels[part],
            )
        )
    return strips


def title_summaries(
    times: ShotTimes, scores: np.ndarray, labels: np.ndarray, *, threshold: float
) -> pd.DataFrame:
    """Per title (catalog order): shots, labelled, positives, negatives, shots at or over the
    threshold and their share of the runtime, and where the first of them starts."""
    n = times.n_videos
    video = np.repeat(np.arange(n), np.diff(times.bounds))
    length = times.ends - times.starts
    hot = np.nan_to_num(scores, nan=-1.0) >= threshold

    def per_title(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(
            video[mask], weights=None if weights is None else weights[mask], minlength=n
        )

    first = np.full(n, np.nan)
    hot_rows = np.flatnonzero(hot)
    if hot_rows.size:
        videos_hot, where = np.unique(video[hot_rows], return_index=True)
        first[videos_hot] = times.starts[hot_rows[where]]
    durations = times.durations()
    return pd.DataFrame(
        {
            "title": times.titles,
            "video": times.video_keys,
            "duration_s": durations.round(1),
            "shots": np.diff(times.bounds),
            "labelled": per_title(labels != UNLABELLED),
            "positives": per_title(labels == POSITIVE),
            "negatives": per_title(labels == NEGATIVE),
            "over_threshold": per_title(hot),
            "runtime_over_threshold": np.divide(
                per_title(hot, length), durations, out=np.zeros(n), where=durations > 0
            ).round(3),
            "first_over_threshold_s": first.round(1),
        }
    )


def page_of_titles(
    summary: pd.DataFrame,
    *,
    page: int,
    per_page: int = DEFAULT_PAGE_SIZE,
    sort: str = "title",
    find: str = "",
) -> tuple[list[int], int]:
    """The positions (in ``times``) of one page of titles, and the number of pages.

    ``sort``: ``title`` (catalog order), ``positives`` (most shots over the threshold first)
    or ``labelled`` (least labelled first: where a manager sends people next); ``find``: only
    titles or video keys containing this text.
    """
    frame = summary
    if find.strip():
        needle = find.strip().casefold()
        hit = frame.title.str.casefold().str.contains(
            needle, regex=False
        ) | frame.video.str.casefold().str.contains(needle, regex=False)
        frame = frame[hit]
    if sort == "positives":
        frame = frame.sort_values(["over_threshold", "positives"], ascending=False, kind="stable")
    elif sort == "labelled":
        frame = frame.sort_values("labelled", kind="stable")
    pages = max(1, -(-len(frame) // per_page))
    page = min(max(page, 1), pages)
    return frame.index[(page - 1) * per_page : page * per_page].tolist(), pages


# -- the figure ------------------------------------------------------------------------------
def timeline_figure(
    strips: Sequence[TitleStrip],
    *,
    threshold: float = 0.5,
    label: str = "",
    selected: str | None = None,
) -> go.Figure:
    """A page of strips, one row each (see the module doc); ``selected`` is ringed."""
    rows = max(1, len(strips))
    height = FIGURE_MARGIN + ROW_HEIGHT * rows
    fig = make_subplots(
        rows=rows,
        cols=1,
        subplot_titles=[_strip_title(s) for s in strips] or [""],
        # Room for a strip's time axis and the next strip's title, whatever the page size.
        vertical_spacing=min(0.5, ROW_GAP / max(1, height - FIGURE_MARGIN)) if rows > 1 else 0,
    )
    for title in fig.layout.annotations:  # titles at the left, where each strip starts
        title.update(x=0.0, xanchor="left", font={"size": 13})
    scored = any(np.isfinite(s.scores).any() for s in strips)
    for row, strip in enumerate(strips, start=1):
        fig.add_trace(_heat(strip, threshold, scored=scored, first=row == 1), row=row, col=1)
        fig.add_trace(_click_layer(strip), row=row, col=1)
        for trace in _marks(strip).values():
            fig.add_trace(trace, row=row, col=1)
        _time_axis(fig, strip, row)
        fig.update_yaxes(range=[-1, 1], visible=False, fixedrange=True, row=row, col=1)
        if selected is not None and selected in set(strip.shot_ids):
            _ring(fig, strip, selected, row)
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 20, "r": 20, "t": 60, "b": 30},
        showlegend=False,
        hovermode="closest",
        clickmode="event+select",
        dragmode="zoom",
        title={"text": _figure_title(label, threshold, scored), "x": 0.01, "font": {"size": 14}},
    )
    if not strips:
        fig.add_annotation(
            text="no title to show", xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False
        )
    return fig


def _figure_title(label: str, threshold: float, scored: bool) -> str:
    about = f"“{label}”: " if label else ""
    if not scored:
        return f"{about}no model yet — labelled shots: ▼ positive (above), ▲ negative (below)"
    return (
        f"{about}score along each title (red: ≥ {threshold:.2f}) · ▼ positive (above), "
        "▲ negative (below)"
    )


def _strip_title(strip: TitleStrip) -> str:
    n = len(strip.shot_ids)
    labelled = int((strip.labels != UNLABELLED).sum())
    pos = int((strip.labels == POSITIVE).sum())
    neg = int((strip.labels == NEGATIVE).sum())
    title = strip.title.replace("<", "&lt;")
    return (
        f"<b>{title}</b> · {clock(strip.duration_s)} · {n} shots · {labelled} labelled "
        f"({pos}+ / {neg}−)"
    )


def colour_scale(threshold: float) -> list[list]:
    """Grey below ``threshold``, light orange to dark red from it (a sharp step there)."""
    t = float(np.clip(threshold, 0.0, 1.0))
    if t <= 0.0:
        return [[0.0, ABOVE_COLOURS[0]], [1.0, ABOVE_COLOURS[1]]]
    if t >= 1.0:
        return [[0.0, BELOW_COLOURS[0]], [1.0, BELOW_COLOURS[1]]]
    return [
        [0.0, BELOW_COLOURS[0]],
        [t, BELOW_COLOURS[1]],
        [t, ABOVE_COLOURS[0]],
        [1.0, ABOVE_COLOURS[1]],
    ]


def strip_cells(
    strip: TitleStrip, values: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The heatmap row of a strip: cell edges (seconds) and each shot's value (its score by
    default), a NaN cell in each gap between shots (shots a cut list left apart); overlapping
    shots are drawn from the later one's start."""
    values_in = strip.scores if values is None else values
    if not len(strip.starts):
        return np.array([0.0, 1.0]), np.array([np.nan])
    starts = np.maximum(strip.starts, np.r_[strip.starts[0], strip.ends[:-1]])
    ends = np.maximum(strip.ends, starts)
    gap = starts[1:] > ends[:-1] + 1e-6
    edges, values = [starts[0]], []
    for i, (end, score) in enumerate(zip(ends, values_in)):
        values.append(score)
        edges.append(end)
        if i < len(gap) and gap[i]:
            values.append(np.nan)
            edges.append(starts[i + 1])
    return np.asarray(edges), np.asarray(values, dtype=np.float64)


def _heat(strip: TitleStrip, threshold: float, *, scored: bool, first: bool) -> go.Heatmap:
    plain = None if scored else np.full(len(strip.starts), 0.5)  # one colour: no model yet
    edges, values = strip_cells(strip, plain)
    return go.Heatmap(
        x=edges,
        y=[-0.45, 0.45],
        z=values[np.newaxis, :],  # a 2-D array: Plotly takes it whole, a list cell by cell
        zmin=0.0,
        zmax=1.0,
        colorscale=colour_scale(threshold)
        if scored
        else [[0, UNSCORED_COLOUR], [1, UNSCORED_COLOUR]],
        showscale=scored and first,
        colorbar={
            "title": {"text": "score"},
            "len": 0.5,
            "y": 1.0,
            "yanchor": "top",
            "thickness": 12,
            "tickvals": [0, threshold, 1],
        },
        hoverinfo="skip",
    )


def _click_layer(strip: TitleStrip) -> go.Scattergl:
    middles = (strip.starts + strip.ends) / 2
    return go.Scattergl(
        x=middles,
        y=np.zeros(len(middles)),
        mode="markers",
        # Invisible (the heatmap shows the shot); WebGL picks points by position, not paint.
        marker={"size": 14, "opacity": 0.0, "color": "#000000", "symbol": "square"},
        # Fixed-width string arrays: Plotly checks them in one step (object arrays and lists
        # element by element: ~5x slower for 8 titles of 3,000 shots).
        customdata=strip.shot_ids.astype(str),
        text=np.array(_hover_texts(strip), dtype=str),
        hovertemplate="%{text}<extra></extra>",
        selected={"marker": {"opacity": 0.0}},
        unselected={"marker": {"opacity": 0.0}},
        name="shots",
    )


def _hover_texts(strip: TitleStrip) -> list[str]:
    """``start–end · score · label`` of every shot (plain lists: 3,000 shots in a few ms)."""
    said = {POSITIVE: " · positive", NEGATIVE: " · negative", TIE: " · tie"}
    scored = [
        "" if score != score else f" · score {score:.2f}"  # NaN: no model
        for score in strip.scores.tolist()
    ]
    return [
        f"{a}–{b}{s}{said.get(code, '')}"
        for a, b, s, code in zip(
            clocks(strip.starts), clocks(strip.ends), scored, strip.labels.tolist()
        )
    ]


def clocks(seconds: np.ndarray) -> list[str]:
    """:func:`clock` of many times at once."""
    s = np.maximum(np.asarray(seconds, dtype=np.float64), 0.0)
    hours, rest = np.divmod(s, 3600.0)
    minutes, secs = np.divmod(rest, 60.0)
    return [
        f"{h}:{m:02d}:{x:04.1f}" if h else f"{m}:{x:04.1f}"
        for h, m, x in zip(hours.astype(int).tolist(), minutes.astype(int).tolist(), secs.tolist())
    ]


def _marks(strip: TitleStrip) -> dict[int, go.Scattergl]:
    marks = {}
    for code, y, symbol, colour in (
        (POSITIVE, 0.75, "triangle-down", POSITIVE_COLOUR),
        (NEGATIVE, -0.75, "triangle-up", NEGATIVE_COLOUR),
    ):
        rows = np.flatnonzero(strip.labels == code)
        marks[code] = go.Scattergl(
            x=(strip.starts[rows] + strip.ends[rows]) / 2,
            y=np.full(len(rows), y),
            mode="markers",
            marker={"size": 9, "color": colour, "symbol": symbol},
            customdata=strip.shot_ids[rows].astype(str),
            hoverinfo="skip",
            selected={"marker": {"opacity": 1.0}},
            unselected={"marker": {"opacity": 1.0}},
            name="positive" if code == POSITIVE else "negative",
        )
    return marks


def _time_axis(fig: go.Figure, strip: TitleStrip, row: int) -> None:
    end = max(strip.duration_s, 1.0)
    step = next((s for s in TICK_STEPS if end / s <= 7), TICK_STEPS[-1])
    ticks = np.arange(0.0, end + 1e-9, step)
    fig.update_xaxes(
        range=[0.0, end],
        tickvals=ticks,
        ticktext=[clock(t, tenths=False) for t in ticks],
        showgrid=False,
        row=row,
        col=1,
    )


def _ring(fig: go.Figure, strip: TitleStrip, shot_id: str, row: int) -> None:
    i = int(np.flatnonzero(strip.shot_ids == shot_id)[0])
    fig.add_shape(
        type="rect",
        x0=strip.starts[i],
        x1=strip.ends[i],
        y0=-0.6,
        y1=0.6,
        line={"color": SELECTED_COLOUR, "width": 3},
        row=row,
        col=1,
    )


def clock(seconds: float, *, tenths: bool = True) -> str:
    """``h:mm:ss.s`` (``m:ss.s`` under an hour), tenths optional."""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:04.1f}" if tenths else f"{int(secs):02d}"
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{text}"
    return f"{int(minutes)}:{text}"


def neighbours(times: ShotTimes, shot_id: str, *, n: int) -> list[str]:
    """``shot_id`` and the ``n - 1`` shots after it in its title (fewer at the end): the cards
    a click on the timeline opens, so labelling moves along the title."""
    where = np.flatnonzero(times.shot_ids == shot_id)
    if not where.size:
        return []
    i = int(where[0])
    video_end = times.bounds[np.searchsorted(times.bounds, i, side="right")]
    return list(times.shot_ids[i : min(i + n, video_end)])


def step(times: ShotTimes, shot_id: str, *, by: int) -> str:
    """The shot ``by`` shots later (earlier when negative) in ``shot_id``'s title, stopping at
    its first and last shot."""
    where = np.flatnonzero(times.shot_ids == shot_id)
    if not where.size:
        return shot_id
    i = int(where[0])
    video = int(np.searchsorted(times.bounds, i, side="right")) - 1
    first, last = times.bounds[video], times.bounds[video + 1] - 1
    return str(times.shot_ids[min(max(i + by, first), last)])
