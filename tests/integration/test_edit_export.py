"""``export-edit`` on real files: a label's shots out as OpenTimelineIO, CMX 3600 EDL and FCP 7
XML, read back with OpenTimelineIO, every clip's source range compared with its shot's frames.

The corpus holds generated videos at 23.976, 24, 25 (a .mov whose ``tmcd`` track starts at
10:00:00:00), 29.97 (a shot across the first minute, where drop-frame timecode skips two
labels) and a variable-frame-rate file; they are ingested, labelled and built like any other.
Expected times are computed here from the shots' frames and the rates, independently of the
exporter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from tests.conftest import TESTER, open_services
from tests.videogen import make_cut_video, make_vfr_video
from va_app.cli import main
from va_app.config import Settings
from va_app.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]
LABEL = "night"
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
#: video key -> (file, exact frame rate, cuts, start timecode)
VIDEOS = {
    "a": ("a.mp4", Fraction(24000, 1001), [0, 30, 70, 110, 150, 190], None),
    "b": ("b.mp4", Fraction(24), [0, 24, 60, 96, 130, 170], None),
    "c": ("c.mov", Fraction(25), [0, 25, 65, 100, 140, 175], "10:00:00:00"),
    "d": ("d.mp4", Fraction(30000, 1001), [0, 300, 1790, 1810, 1840, 1900], None),
}
# Variable frame rate: 24 fps, then 12, then 30; scene cuts at frames 35 and 70.
VFR_PERIODS = [Fraction(1, 24)] * 40 + [Fraction(1, 12)] * 30 + [Fraction(1, 30)] * 50


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Settings:
    """The videos ingested, every other shot labelled positive, version 1 built."""
    root = tmp_path_factory.mktemp("edit-export")
    for key, (name, fps, cuts, timecode) in VIDEOS.items():
        make_cut_video(root / "videos" / name, cuts=cuts, fps=fps, seed=ord(key), timecode=timecode)
    times = [sum(VFR_PERIODS[:i], Fraction(0)) for i in range(len(VFR_PERIODS))]
    make_vfr_video(root / "videos" / "e.mp4", times, cuts=[0, 35, 70, 120])
    settings = Settings(
        data_dir=root / "data",
        encoder="descriptor",
        max_shot_s=60,
        min_positives=5,
        min_negatives=5,
    )
    report = ingest(settings, root / "videos", workers=1)
    assert not report.skipped
    ws = open_services(settings)
    try:
        ws.labelling.create_label(TESTER, LABEL)
        shots = ws.corpus.shots()
        ws.uow().labels.annotate_many(
            LABEL, [(s.id, i % 2 == 0) for i, s in enumerate(shots)], annotator="ana"
        )
        ws.modelling.build(TESTER, LABEL)
    finally:
        ws.close()
    return settings


@pytest.fixture(scope="module")
def shots(corpus) -> dict[str, list]:
    """The corpus's shots per video key, in time order."""
    ws = open_services(corpus)
    try:
        by_video: dict[str, list] = {}
        for shot in ws.corpus.shots():
            by_video.setdefault(shot.video_key, []).append(shot)
        return by_video
    finally:
        ws.close()


def _export(settings: Settings, tmp_path: Path, *args: str, capsys) -> dict:
    out = tmp_path / "edit"
    code = main(
        [
            "export-edit",
            "--label",
            LABEL,
            *args,
            "--json",
            "--data-dir",
            str(settings.data_dir),
            "--out",
            str(out.with_suffix(_suffix(args))),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    return json.loads(printed.out)


def _suffix(args) -> str:
    fmt = args[list(args).index("--format") + 1]
    return {"otio": ".otio", "edl": ".edl", "fcpxml": ".xml"}[fmt]


def _expected(shot, *, start_tc: int = 0) -> TR:
    """The shot's frames as source time on its own (standard) rate."""
    rate = float(VIDEOS[shot.video_key][1])
    return TR(RT(start_tc + shot.start_frame, rate), RT(shot.end_frame - shot.start_frame, rate))


def _start_tc(key: str) -> int:
    _, fps, _, timecode = VIDEOS[key]
    return otio.opentime.from_timecode(timecode, float(fps)).to_frames() if timecode else 0


def _assert_exact(clip_range: TR, want: TR) -> None:
    assert clip_range.start_time.rate == pytest.approx(want.start_time.rate, rel=1e-9)
    assert clip_range.start_time.value == pytest.approx(want.start_time.value, abs=1e-6)
    assert clip_range.duration.value == pytest.approx(want.duration.value, abs=1e-6)


def test_selects_as_otio_hold_every_positive_at_its_exact_source_frames(
    corpus, shots, tmp_path, capsys
):
    summary = _export(corpus, tmp_path, "--positives", "--format", "otio", capsys=capsys)
    timeline = otio.adapters.read_from_file(summary["files"][0])
    clips = list(timeline.find_clips())
    positives = set(_positives(corpus))
    want = [s for key in sorted(shots) for s in shots[key] if s.id in positives]
    assert summary["shots"] == len(clips) == len(want) and summary["version"] == 1
    for clip, shot in zip(clips, want):
        assert clip.metadata["video_annotator"]["shot_id"] == shot.id
        assert clip.media_reference.target_url == Path(shot.video_path).resolve().as_uri()
        if shot.video_key in VIDEOS:
            _assert_exact(clip.source_range, _expected(shot, start_tc=_start_tc(shot.video_key)))
        else:  # the VFR source: its presentation times on the nearest standard rate
            rate = clip.source_range.start_time.rate
            assert otio.opentime.RationalTime.is_valid_timecode_rate(rate)
            assert clip.source_range.start_time.value == int(clip.source_range.start_time.value)
            assert clip.source_range.start_time.to_seconds() == pytest.approx(
                shot.start_s, abs=0.5 / rate
            )
            assert clip.source_range.end_time_exclusive().to_seconds() == pytest.approx(
                shot.end_s, abs=0.5 / rate
            )
        (marker,) = clip.markers
        assert marker.name == LABEL and marker.comment.startswith("score 0.")
        _assert_exact(marker.marked_range, clip.source_range)


def test_a_29_97_edl_is_drop_frame_and_reads_back_to_the_exact_frames(
    corpus, shots, tmp_path, capsys
):
    summary = _export(
        corpus, tmp_path, "--min-score", "0", "--video", "d", "--format", "edl", capsys=capsys
    )
    text = Path(summary["files"][0]).read_text()
    assert "FCM: DROP FRAME" in text
    # The shot [1790, 1810) crosses the first minute: 00:00:59;20 to 00:01:00;12 (drop-frame
    # timecode has no 00:01:00;00 or ;01).
    assert "00:00:59;20 00:01:00;12" in text
    timeline = otio.adapters.read_from_string(text, "cmx_3600", rate=30000 / 1001)
    clips = list(timeline.find_clips())
    assert len(clips) == len(shots["d"])
    for clip, shot in zip(clips, shots["d"]):
        _assert_exact(clip.source_range, _expected(shot))
        assert Path(clip.media_reference.target_url).name == "d.mp4"


@pytest.mark.parametrize("key", ["a", "b", "c"])
def test_edl_and_fcp_xml_selects_read_back_to_the_exact_frames(
    key, corpus, shots, tmp_path, capsys
):
    rate = float(VIDEOS[key][1])
    for fmt in ("edl", "fcpxml"):
        summary = _export(
            corpus, tmp_path, "--min-score", "0", "--video", key, "--format", fmt, capsys=capsys
        )
        path = summary["files"][0]
        read = otio.adapters.read_from_file(path, **({"rate": rate} if fmt == "edl" else {}))
        clips = list(read.find_clips())
        assert [c.source_range.start_time.rate for c in clips] == pytest.approx([rate] * len(clips))
        assert len(clips) == len(shots[key]), fmt
        for clip, shot in zip(clips, shots[key]):
            # 10:00:00:00 of the .mov's timecode track: an EDL says it in its source timecode,
            # an FCP XML in its file's <timecode>.
            _assert_exact(clip.source_range, _expected(shot, start_tc=_start_tc(key)))
    assert "NON-DROP FRAME" in Path(tmp_path / "edit.edl").read_text()


def test_markers_give_each_video_a_timeline_with_a_marker_per_shot(corpus, shots, tmp_path, capsys):
    summary = _export(
        corpus, tmp_path, "--positives", "--markers", "--format", "otio", capsys=capsys
    )
    read = otio.adapters.read_from_file(summary["files"][0])
    timelines = list(read) if isinstance(read, otio.schema.SerializableCollection) else [read]
    assert len(timelines) == len(shots) == summary["videos"]
    positives = set(_positives(corpus))
    for timeline, key in zip(timelines, sorted(shots)):
        (clip,) = timeline.find_clips()  # the whole video
        assert clip.source_range.end_time_exclusive().to_seconds() >= shots[key][-1].end_s - 0.05
        want = [s for s in shots[key] if s.id in positives]
        assert [m.metadata["video_annotator"]["shot_id"] for m in clip.markers] == [
            s.id for s in want
        ]
        for marker, shot in zip(clip.markers, want):
            assert marker.name == LABEL and marker.comment.startswith("score ")
            if key in VIDEOS:
                _assert_exact(marker.marked_range, _expected(shot, start_tc=_start_tc(key)))
            else:
                rate = marker.marked_range.start_time.rate
                assert marker.marked_range.start_time.to_seconds() == pytest.approx(
                    shot.start_s, abs=0.5 / rate
                )


def _positives(settings: Settings) -> list[str]:
    ws = open_services(settings)
    try:
        return ws.uow().labels.labelled_set(LABEL).positives
    finally:
        ws.close()


def test_fcp_xml_markers_count_frames_from_the_media_start(corpus, shots, tmp_path, capsys):
    summary = _export(
        corpus,
        tmp_path,
        "--min-score",
        "0",
        "--video",
        "c",
        "--markers",
        "--format",
        "fcpxml",
        capsys=capsys,
    )
    text = Path(summary["files"][0]).read_text()
    assert "<comment>score 0." in text
    (clip,) = otio.adapters.read_from_file(summary["files"][0]).find_clips()
    assert [
        (m.name, m.marked_range.start_time.value, m.marked_range.duration.value)
        for m in clip.markers
    ] == [(LABEL, s.start_frame, s.end_frame - s.start_frame) for s in shots["c"]]


def test_edl_markers_of_several_videos_are_one_edl_per_video(corpus, shots, tmp_path, capsys):
    summary = _export(
        corpus,
        tmp_path,
        "--min-score",
        "0",
        "--video",
        "b",
        "c",
        "--markers",
        "--format",
        "edl",
        capsys=capsys,
    )
    assert len(summary["files"]) == 2
    for path, key in zip(summary["files"], ("b", "c")):
        text = Path(path).read_text()
        (clip,) = otio.adapters.read_from_string(
            text, "cmx_3600", rate=float(VIDEOS[key][1])
        ).find_clips()
        starts = [m.marked_range.start_time.value for m in clip.markers]
        assert starts == [_start_tc(key) + s.start_frame for s in shots[key]]
        assert all(m.name.startswith(f"{LABEL.upper()} 0.") for m in clip.markers)


def test_top_n_best_first_are_the_models_best_shots(corpus, tmp_path, capsys):
    summary = _export(
        corpus, tmp_path, "--top", "4", "--order", "score", "--format", "otio", capsys=capsys
    )
    ws = open_services(corpus)
    try:
        scores = ws.modelling.score(TESTER, LABEL).sort_values("probability", ascending=False)
    finally:
        ws.close()
    clips = list(otio.adapters.read_from_file(summary["files"][0]).find_clips())
    assert [c.metadata["video_annotator"]["shot_id"] for c in clips] == list(scores.shot_id[:4])


def test_an_edl_of_sources_at_different_rates_is_refused_saying_what_to_do(
    corpus, tmp_path, capsys
):
    code = main(
        [
            "export-edit",
            "--label",
            LABEL,
            "--positives",
            "--format",
            "edl",
            "--out",
            str(tmp_path / "x.edl"),
            "--data-dir",
            str(corpus.data_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "different frame rates" in err and "--format otio" in err
    assert not (tmp_path / "x.edl").exists()


def test_the_command_runs_as_a_process_and_says_what_it_wrote(corpus, tmp_path):
    out = tmp_path / "selects.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "export-edit",
            "--label",
            LABEL,
            "--min-score",
            "0.5",
            "--format",
            "fcpxml",
            "--out",
            str(out),
            "--video",
            "b",
            "--data-dir",
            str(corpus.data_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert f"  {out}" in done.stdout and "(model v1)" in done.stdout
    assert isinstance(otio.adapters.read_from_file(str(out)), otio.schema.Timeline)
