"""Editorial interchange without videos: frames ↔ timecode at the standard rates and for a
variable-frame-rate file, which shots an export chooses, reel names, the formats' limits, and
which cut list applies to a video."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from va_app.errors import ValidationError
from va_app.formats.editorial import (
    EditShot,
    EditSource,
    edit_files,
    marker_timelines,
    reel_names,
    selects_timeline,
    source_range,
)
from va_app.services.editorial import EditChoice, choose_shot_ids
from va_app.video.cutlists import FOLDER, VIDEO, CutEvent, find_cut_list, source_of
from va_app.video.timecode import frame_time, on_timecode_grid, time_frame, timecode_rate

RATES = [24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60000 / 1001]
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


@given(st.sampled_from(RATES), st.integers(min_value=0, max_value=10_000_000))
def test_a_frame_at_a_standard_rate_is_that_frame_of_timecode(fps, frame):
    time = frame_time(frame, fps)
    assert (time.value, time.rate) == (frame, fps)
    assert time_frame(time, fps) == frame


def test_a_file_at_a_rounded_rate_counts_on_the_exact_rate():
    # An imported corpus may say 23.976 where the file is 24000/1001.
    assert timecode_rate(23.976) == 24000 / 1001 and on_timecode_grid(23.976)
    assert frame_time(500_000, 23.976).value == 500_000


@given(st.floats(min_value=1.0, max_value=240.0), st.integers(min_value=0, max_value=500_000))
def test_a_variable_rate_frame_lands_on_the_nearest_rate_within_half_a_frame(fps, frame):
    time = frame_time(frame, fps)
    assert RT.is_valid_timecode_rate(time.rate) and time.value == int(time.value)
    assert time.to_seconds() == pytest.approx(frame / fps, abs=0.5 / time.rate + 1e-9)


def test_a_cut_list_time_in_a_variable_rate_file_is_the_frame_shown_then():
    # 2 s into a file averaging 20.5 fps is its frame round(2 × 20.5), whatever the list's rate.
    assert time_frame(RT(48, 24), 20.5) == 41
    assert time_frame(RT(60, 30000 / 1001), 20.5) == round(60 * 1001 / 30000 * 20.5)


def test_drop_frame_is_what_opentimelineio_writes_at_29_97():
    # The last frame of the first minute and the first of the next: ;00 and ;01 are skipped.
    rate = 30000 / 1001
    assert otio.opentime.to_timecode(frame_time(1799, rate), rate) == "00:00:59;29"
    assert otio.opentime.to_timecode(frame_time(1800, rate), rate) == "00:01:00;02"


def _source(key: str, fps: float, *, path: str = "", start: RT | None = None) -> EditSource:
    return EditSource(key, path or f"/media/{key}.mov", key.title(), fps, 10_000, start)


def _shot(source: EditSource, start: int, end: int, score: float | None = 0.9) -> EditShot:
    return EditShot(f"{source.key}|{start}", source, start, end, score)


def test_a_source_range_starts_at_the_files_start_timecode():
    start = otio.opentime.from_timecode("01:00:00;00", 30000 / 1001)  # 107892 frames
    shot = _shot(_source("a", 30000 / 1001, start=start), 1790, 1810)
    assert source_range(shot) == TR(RT(107892 + 1790, 30000 / 1001), RT(20, 30000 / 1001))


def test_mixed_rates_fit_otio_but_not_one_edl_or_fcp_sequence():
    shots = [_shot(_source("a", 24.0), 0, 10), _shot(_source("b", 25.0), 5, 20)]
    timeline = selects_timeline(shots, label="night", name="n")
    assert edit_files([timeline], fmt="otio", stem="n")[0][0] == "n.otio"
    for fmt in ("edl", "fcpxml"):
        with pytest.raises(ValidationError, match="different frame rates"):
            edit_files([timeline], fmt=fmt, stem="n")


def test_an_edl_says_its_frame_count_mode_and_puts_label_and_score_in_its_locators():
    source = _source("a", 30000 / 1001)
    timeline = selects_timeline([_shot(source, 0, 30, 0.934)], label="night", name="night")
    ((name, text),) = edit_files([timeline], fmt="edl", stem="night")
    lines = text.decode().splitlines()
    assert name == "night.edl" and lines[:2] == ["TITLE: night", "FCM: DROP FRAME"]
    assert any(
        line.startswith("* LOC: 00:00:00;00") and line.endswith("NIGHT 0.93") for line in lines
    )
    assert timeline.find_clips()[0].markers[0].name == "night"  # the timeline is not changed


def test_edl_markers_of_several_videos_are_several_files():
    shots = [_shot(_source("a", 24.0), 0, 10), _shot(_source("b", 24.0), 5, 20, None)]
    files = edit_files(marker_timelines(shots, label="night"), fmt="edl", stem="m")
    assert [name for name, _ in files] == ["m-01-A_night.edl", "m-02-B_night.edl"]


def test_reel_names_are_eight_letters_or_digits_and_never_clash():
    sources = [
        _source(k, 24.0, path=f"/m/{name}")
        for k, name in (("a", "night_city_1.mp4"), ("b", "night_city_2.mp4"), ("c", "é.mp4"))
    ]
    reels = reel_names(sources)
    assert reels == {"a": "NIGHTCIT", "b": "NIGHTCI2", "c": "REEL"}


def test_an_export_chooses_exactly_one_way():
    with pytest.raises(ValidationError, match="one of --positives"):
        EditChoice(positives=True, top=3)
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        EditChoice(min_score=1.5)
    with pytest.raises(ValidationError, match="at least 1"):
        EditChoice(top=0)


def test_the_chosen_shots_are_the_positives_the_scores_above_s_or_the_best_n():
    scores = {"a|0": 0.2, "a|5": 0.9, "b|0": 0.9, "b|7": 0.6}
    positives = ["a|0", "b|7"]
    assert choose_shot_ids(EditChoice(positives=True), scores, positives=positives) == positives
    assert choose_shot_ids(EditChoice(min_score=0.6), scores, positives=[]) == [
        "a|5",
        "b|0",
        "b|7",
    ]
    assert choose_shot_ids(EditChoice(top=2), scores, positives=[]) == ["a|5", "b|0"]
    keep = {"a|0", "b|7"}
    assert choose_shot_ids(EditChoice(top=1), scores, positives=[], keep=keep) == ["b|7"]


def test_a_video_s_own_list_comes_before_its_folder_s_and_two_are_a_problem(tmp_path):
    video = tmp_path / "film.mp4"
    video.write_bytes(b"")
    assert find_cut_list(video) is None
    (tmp_path / "cuts.edl").write_text("TITLE: x\n")
    folder = find_cut_list(video)
    assert (folder.scope, folder.name, folder.problem) == (FOLDER, "cuts.edl", "")
    (tmp_path / "film.xml").write_text("<xmeml/>")
    own = find_cut_list(video)
    assert (own.scope, own.name, own.problem) == (VIDEO, "film.xml", "")
    before = own.digest
    (tmp_path / "film.xml").write_text("<xmeml version='4'/>")
    assert find_cut_list(video).digest != before  # the video's fingerprint changes with it
    (tmp_path / "film.otio").write_text("{}")
    assert "keep only one of them" in find_cut_list(video).problem


def _event(*names: str) -> CutEvent:
    zero = TR(RT(0, 24), RT(1, 24))
    return CutEvent(1, zero, zero, tuple(n.casefold() for n in names), None, names[0])


def test_an_event_names_a_file_by_file_name_clip_name_or_reel_and_ambiguity_is_no_match():
    videos = [Path("/m/A001C003_220412.mov"), Path("/m/A001C003_220413.mov"), Path("/m/b.mp4")]
    assert source_of(_event("a001c003_220412.mov"), videos) == videos[0]
    assert source_of(_event("B"), videos) == videos[2]  # a reel: the file's stem
    assert source_of(_event("A001C003"), videos) is None  # the 8-letter reel of both
    assert source_of(_event("GFX01"), videos) is None
