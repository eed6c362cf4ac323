"""The video layer on real files: probing, shot detection, frames, thumbnails, shot clips.

Videos are generated per test module (tests/videogen.py): hard cuts at known frames, and a
code strip in every frame that tells which frame it is.
"""

from __future__ import annotations

import os
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.videogen import (
    make_audio_only,
    make_cut_video,
    make_empty_file,
    make_text_file,
    make_truncated_video,
    make_unknown_codec_video,
    make_vfr_video,
    read_frame_code,
)
from va_app.domain import ShotSpan
from va_app.errors import BadVideoError, NotFoundError, VAError, ValidationError
from va_app.video.clips import CLIP_HEIGHT, ShotClipRequest, shot_clip
from va_app.video.frames import (
    keyframe_indices,
    read_frame,
    sample_shot_frames,
    write_filmstrip,
    write_thumbnail,
)
from va_app.video.probe import discover_videos, file_fingerprint, probe_video
from va_app.video.shots import detect_shots, enforce_min_length, split_long_shots


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def h264_video(videos) -> Path:
    """120 frames at 24 fps, shots [0, 30), [30, 75), [75, 120)."""
    path = videos / "three_shots.mp4"
    make_cut_video(path, cuts=[0, 30, 75, 120])
    return path


@pytest.fixture(scope="module")
def mpeg4_avi(videos) -> Path:
    path = videos / "three_shots.avi"
    make_cut_video(path, cuts=[0, 30, 75, 120], codec="mpeg4", seed=1)
    return path


def starts_of(shots: list[ShotSpan]) -> list[int]:
    return [shot.start_frame for shot in shots]


def assert_contiguous(shots: list[ShotSpan], n_frames: int) -> None:
    assert shots[0].start_frame == 0
    assert all(a.end_frame == b.start_frame for a, b in pairwise(shots))
    assert shots[-1].end_frame == n_frames


# --- probing -------------------------------------------------------------------------------


def test_probe_describes_a_good_video(h264_video):
    info = probe_video(h264_video)
    assert (info.width, info.height, info.fps, info.n_frames) == (160, 96, 24.0, 120)
    assert info.duration_s == pytest.approx(5.0)
    assert info.codec == "h264"
    assert "mp4" in info.container


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("empty.mp4", make_empty_file, "empty"),
        ("notes.mp4", make_text_file, "not a video"),
        ("song.m4a", make_audio_only, "no video stream"),
        ("song.mp4", make_audio_only, "no video stream"),
        ("cut_off.mp4", lambda p: make_truncated_video(p, faststart=False), "not a video"),
        ("raw.mkv", make_unknown_codec_video, "unsupported video codec"),
    ],
)
def test_unusable_files_raise_bad_video_error_with_a_reason(videos, name, make, words):
    path = videos / "bad" / name
    make(path)
    with pytest.raises(BadVideoError) as caught:
        probe_video(path)
    assert caught.value.path == str(path)
    assert words in caught.value.reason
    assert str(path) in str(caught.value)


def test_missing_file_is_a_bad_video(videos):
    with pytest.raises(BadVideoError, match="not found"):
        probe_video(videos / "nowhere.mp4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_a_bad_video(videos, h264_video):
    path = videos / "locked.mp4"
    path.write_bytes(h264_video.read_bytes())
    path.chmod(0)
    with pytest.raises(BadVideoError, match="permission denied"):
        probe_video(path)


# --- shot detection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuts", "options"),
    [
        ([0, 30, 75, 120], {}),
        ([0, 13, 40, 52, 100], {}),  # a cut near the start, a shot of exactly the minimum
        ([0, 24, 36, 90, 102, 130, 180], {"seed": 3}),
        ([0, 45, 60, 150], {"fps": 30, "size": (320, 180), "seed": 7}),  # 15 = minimum at 30 fps
        ([0, 30, 75, 120], {"codec": "mpeg4", "seed": 2}),
        ([0, 30, 75, 120], {"codec": "libvpx-vp9", "seed": 4}),
    ],
)
def test_shots_start_exactly_at_the_cut_frames(videos, cuts, options):
    suffix = {"mpeg4": ".avi", "libvpx-vp9": ".webm"}.get(options.get("codec"), ".mp4")
    path = videos / f"cuts_{'_'.join(map(str, cuts))}{suffix}"
    starts = make_cut_video(path, cuts=cuts, **options)
    info = probe_video(path)
    shots = detect_shots(path, info)
    assert starts_of(shots) == starts
    assert_contiguous(shots, cuts[-1])


def test_a_cut_at_frame_one_is_found_when_the_minimum_allows_it(videos):
    path = videos / "flash_start.mp4"
    make_cut_video(path, cuts=[0, 1, 40, 80])
    shots = detect_shots(path, probe_video(path), min_shot_s=1 / 24)
    assert starts_of(shots) == [0, 1, 40]


def test_shots_shorter_than_the_minimum_join_a_neighbour(videos):
    """At 24 fps the 0.5 s minimum is 12 frames: the 2-frame opening and the 5-frame piece
    join the shot after them, the 4-frame ending joins the shot before it."""
    path = videos / "short_pieces.mp4"
    make_cut_video(path, cuts=[0, 2, 40, 45, 80, 84])
    shots = detect_shots(path, probe_video(path), min_shot_s=0.5)
    assert [(s.start_frame, s.end_frame) for s in shots] == [(0, 40), (40, 84)]


def test_long_shots_are_split_into_equal_parts(videos):
    path = videos / "long_shot.mp4"
    make_cut_video(path, cuts=[0, 100, 130])
    shots = detect_shots(path, probe_video(path), max_shot_s=2.0)  # 48 frames
    spans = [(s.start_frame, s.end_frame) for s in shots]
    assert spans == [(0, 33), (33, 66), (66, 100), (100, 130)]


def test_a_video_without_cuts_is_one_shot_or_equal_parts(videos):
    path = videos / "one_take.mp4"
    make_cut_video(path, cuts=[0, 60])
    info = probe_video(path)
    assert [(s.start_frame, s.end_frame) for s in detect_shots(path, info)] == [(0, 60)]
    parts = detect_shots(path, info, max_shot_s=1.0)
    assert [(s.start_frame, s.end_frame) for s in parts] == [(0, 20), (20, 40), (40, 60)]


def test_min_length_and_split_rules():
    assert enforce_min_length([], 50, min_frames=12) == [0]
    assert enforce_min_length([5, 20, 31, 45], 50, min_frames=12) == [0, 20]
    assert enforce_min_length([3], 5, min_frames=12) == [0]
    spans = split_long_shots([ShotSpan(0, 10, 24.0), ShotSpan(10, 17, 24.0)], max_frames=4)
    assert [(s.start_frame, s.end_frame) for s in spans] == [
        (0, 3),
        (3, 6),
        (6, 10),
        (10, 13),
        (13, 17),
    ]


@pytest.mark.parametrize("name", ["cut_off.mkv", "cut_off_faststart.mp4", "cut_off.avi"])
def test_truncated_videos_give_shots_up_to_where_decoding_stops(videos, name):
    path = videos / name
    codec = "mpeg4" if name.endswith(".avi") else "libx264"
    true_starts = make_truncated_video(path, cuts=[0, 20, 50, 90, 120], codec=codec)
    info = probe_video(path)
    shots = detect_shots(path, info)
    decoded = shots[-1].end_frame
    assert 10 < decoded < 120
    assert starts_of(shots) == [s for s in true_starts if s < decoded - 12]
    assert_contiguous(shots, decoded)
    frames = sample_shot_frames(path, shots, per_shot=2)
    assert [[read_frame_code(f) for f in pair] for pair in frames] == [
        keyframe_indices(shot, 2) for shot in shots
    ]


# --- frames --------------------------------------------------------------------------------


def test_keyframe_indices_are_centres_of_equal_parts():
    assert keyframe_indices(ShotSpan(10, 20, 24.0), 1) == [15]
    assert keyframe_indices(ShotSpan(10, 20, 24.0), 3) == [11, 15, 18]
    assert keyframe_indices(ShotSpan(4, 5, 24.0), 2) == [4, 4]
    with pytest.raises(ValidationError):
        keyframe_indices(ShotSpan(0, 5, 24.0), 0)


@pytest.mark.parametrize("per_shot", [1, 3])
def test_sample_shot_frames_returns_the_keyframes_of_each_shot(h264_video, per_shot):
    shots = detect_shots(h264_video, probe_video(h264_video))
    frames = sample_shot_frames(h264_video, shots, per_shot=per_shot)
    assert len(frames) == len(shots)
    for shot, stack in zip(shots, frames):
        assert stack.shape == (per_shot, 96, 160, 3) and stack.dtype == np.uint8
        assert [read_frame_code(f) for f in stack] == keyframe_indices(shot, per_shot)
    if per_shot == 1:
        assert [read_frame_code(stack[0]) for stack in frames] == [15, 52, 97]


def test_sample_shot_frames_resizes(mpeg4_avi):
    shots = [ShotSpan(0, 30, 24.0), ShotSpan(30, 75, 24.0), ShotSpan(75, 120, 24.0)]
    frames = sample_shot_frames(mpeg4_avi, shots, per_shot=2, size=(80, 64))
    assert [stack.shape for stack in frames] == [(2, 64, 80, 3)] * 3
    assert [read_frame_code(f) for stack in frames for f in stack] == [7, 22, 41, 63, 86, 108]


def test_sample_shot_frames_past_the_end_is_a_bad_video(h264_video):
    with pytest.raises(BadVideoError, match="truncated or damaged"):
        sample_shot_frames(h264_video, [ShotSpan(100, 300, 24.0)], per_shot=1)


@pytest.mark.parametrize("fixture", ["h264_video", "mpeg4_avi"])
def test_read_frame_returns_exactly_the_frame_asked_for(request, fixture):
    path = request.getfixturevalue(fixture)
    for index in [0, 1, 29, 30, 31, 74, 75, 100, 119]:
        frame = read_frame(path, index)
        assert frame.shape == (96, 160, 3)
        assert read_frame_code(frame) == index
    with pytest.raises(ValidationError):
        read_frame(path, 120)


def test_thumbnail_and_filmstrip_are_jpegs_of_the_right_size(tmp_path, h264_video):
    frames = [read_frame(h264_video, i) for i in (10, 50, 100)]
    thumb = write_thumbnail(frames[0], tmp_path / "thumbs" / "a.jpg", width=320)
    strip = write_filmstrip(frames, tmp_path / "thumbs" / "a_strip.jpg", height=90)
    with Image.open(thumb) as image:
        assert (image.format, image.size) == ("JPEG", (320, 192))
    with Image.open(strip) as image:
        assert (image.format, image.size) == ("JPEG", (3 * 150, 90))
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["a.jpg", "a_strip.jpg"]


# --- codecs browsers do not play --------------------------------------------------------


def decoded_codes(path: Path) -> tuple[str, list[int]]:
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
        frames = container.decode(video=0)
        return codec, [read_frame_code(f.to_ndarray(format="rgb24")) for f in frames]


@pytest.mark.parametrize(
    ("name", "codec"), [("clip.avi", "mpeg4"), ("clip.mkv", "mjpeg"), ("clip.webm", "libvpx-vp9")]
)
def test_any_codec_plays_as_an_h264_clip_of_the_shot(tmp_path, videos, name, codec):
    path = videos / name
    make_cut_video(path, cuts=[0, 30, 75, 120], codec=codec)
    clip = shot_clip(ShotClipRequest(str(path), 30, 75, 24.0, key="clip|30"), clips_dir=tmp_path)
    assert clip.parent == tmp_path and clip.name.endswith(".mp4")
    assert decoded_codes(clip) == ("h264", list(range(30, 75)))


def test_an_empty_shot_span_is_refused(tmp_path, h264_video):
    with pytest.raises(ValidationError):
        shot_clip(ShotClipRequest(str(h264_video), 48, 48, 24.0, key="x"), clips_dir=tmp_path)


# --- exact shot clips ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_video(videos) -> Path:
    """240 frames of 640×480 at 24 fps, scenes [0, 103), [103, 130), [130, 240):
    the middle shot starts at 4.29 s, where a player given whole seconds starts at 4.0 s."""
    path = videos / "large.mp4"
    make_cut_video(path, cuts=[0, 103, 130, 240], size=(640, 480), seed=3)
    return path


def clip_frames(path: Path) -> tuple[av.video.stream.VideoStream, list[av.VideoFrame]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream, list(container.decode(stream))


def codes_and_times(path: Path) -> tuple[list[int], list[float], float]:
    """Frame codes, presentation times (s) and the container's duration (s) of a clip."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        duration = container.duration / av.time_base
    codes = [read_frame_code(f.to_ndarray(format="rgb24")) for f in frames]
    return codes, [float(f.time) for f in frames], duration


@pytest.mark.parametrize(
    ("start", "end"),
    [(103, 130), (103, 118), (131, 134)],
    ids=["fractional-start", "sub-second", "three-frames"],
)
def test_a_shot_clip_holds_exactly_the_shots_frames(tmp_path, large_video, start, end):
    request = ShotClipRequest(str(large_video), start, end, 24.0, key=f"large|{start}")
    clip = shot_clip(request, clips_dir=tmp_path)
    codes, times, duration = codes_and_times(clip)
    assert codes == list(range(start, end))  # first frame to last, nothing of a neighbour
    assert times == pytest.approx([i / 24 for i in range(end - start)], abs=1e-4)
    assert duration == pytest.approx((end - start) / 24, abs=1e-3)
    stream, _ = clip_frames(clip)
    ctx = stream.codec_context
    assert (ctx.name, ctx.pix_fmt, stream.height, stream.width) == (
        "h264",
        "yuv420p",
        CLIP_HEIGHT,
        480,
    )
    assert [p.name for p in tmp_path.iterdir()] == [clip.name]  # no temp file left behind


def test_a_clip_of_a_variable_frame_rate_video_keeps_its_frames_and_times(tmp_path, videos):
    # 24 fps, then 12 fps, then 30 fps: frame i's index is round(t_i · average fps).
    periods = [Fraction(1, 24)] * 40 + [Fraction(1, 12)] * 30 + [Fraction(1, 30)] * 50
    times = [sum(periods[:i], Fraction(0)) for i in range(len(periods))]
    path = videos / "vfr.mp4"
    make_vfr_video(path, times, cuts=[0, 35, 100, 120])
    fps = probe_video(path).fps
    assert fps not in (12.0, 24.0, 30.0)  # really variable: the average is none of them
    index = [round(float(t) * fps) for t in times]
    start, end = index[35], index[100]  # the shot spans all three rates
    expected = [i for i, k in enumerate(index) if start <= k < end]
    clip = shot_clip(ShotClipRequest(str(path), start, end, fps, key="vfr|35"), clips_dir=tmp_path)
    codes, clip_times, _ = codes_and_times(clip)
    assert codes == expected and codes[0] == 35 and codes[-1] == 99
    assert clip_times == pytest.approx([float(times[i] - times[35]) for i in expected], abs=1e-4)


def test_clips_are_cut_once_and_again_when_the_source_changes(tmp_path, videos):
    path = videos / "changing.mp4"
    make_cut_video(path, cuts=[0, 30, 60])
    request = ShotClipRequest(str(path), 30, 60, 24.0, key="changing|30")
    clip = shot_clip(request, clips_dir=tmp_path)
    written = clip.stat().st_mtime_ns
    assert shot_clip(request, clips_dir=tmp_path) == clip
    assert clip.stat().st_mtime_ns == written
    make_cut_video(path, cuts=[0, 30, 60], seed=9)  # replaced in place (re-encoded, say)
    os.utime(path, ns=(written + 10**9, written + 10**9))
    assert shot_clip(request, clips_dir=tmp_path) == clip
    assert clip.stat().st_mtime_ns > written


def test_a_shot_without_its_video_file_says_there_is_nothing_to_play(tmp_path):
    request = ShotClipRequest("", 0, 10, 24.0, key="yt:abc|0")
    with pytest.raises(NotFoundError, match="not on this machine"):
        shot_clip(request, clips_dir=tmp_path)
    gone = ShotClipRequest(str(tmp_path / "moved.mp4"), 0, 10, 24.0, key="moved|0")
    with pytest.raises(NotFoundError, match="moved.mp4"):
        shot_clip(gone, clips_dir=tmp_path)


# --- finding files -------------------------------------------------------------------------


def test_discover_videos_finds_video_files_recursively_and_sorted(tmp_path):
    for name in [
        "b.mp4",
        "a/z.MKV",
        "a/deep/c.webm",
        "notes.txt",
        "a/cover.jpg",
        ".hidden.mp4",
        ".cache/x.mp4",
        "a/._a.mp4",
        "d.ts",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = discover_videos(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/deep/c.webm",
        "a/z.MKV",
        "b.mp4",
        "d.ts",
    ]


def test_discover_videos_explains_a_bad_folder(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        discover_videos(tmp_path / "missing")
    (tmp_path / "file.mp4").write_bytes(b"x")
    with pytest.raises(VAError, match="not a folder"):
        discover_videos(tmp_path / "file.mp4")


def test_file_fingerprint_changes_with_content(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"a" * 3_000_000)
    before = file_fingerprint(path)
    assert file_fingerprint(path) == before
    stat = path.stat()
    path.write_bytes(b"a" * 2_999_999 + b"b")  # same size, last byte differs
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime too
    assert file_fingerprint(path) != before
    assert file_fingerprint(path).startswith("3000000-")


def test_a_phone_video_stored_sideways_is_shown_upright(videos):
    """Phones store portrait video as landscape frames plus a display rotation: probe, frames
    and thumbnails must show it as players do (a marker at the stored top-left ends up at
    the top-right after the clockwise quarter turn)."""
    path = videos / "portrait.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.set_display_rotation(-90)  # what an iPhone held upright writes
        for _ in range(24):
            frame = np.full((96, 160, 3), 40, np.uint8)
            frame[:24, :40] = (255, 0, 0)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    info = probe_video(path)
    assert (info.width, info.height) == (96, 160)
    upright = read_frame(path, 5)
    assert upright.shape == (160, 96, 3)
    assert upright[:20, -20:, 0].mean() > 200 and upright[:20, :20, 0].mean() < 80
    assert upright[-20:, -20:, 0].mean() < 80
    [frames] = sample_shot_frames(path, [ShotSpan(0, 24, 24.0)], per_shot=2, size=(48, 80))
    assert frames.shape == (2, 80, 48, 3)
    assert frames[0, :8, -8:, 0].mean() > 200
    clip = shot_clip(
        ShotClipRequest(str(path), 0, 24, 24.0, key="portrait|0"), clips_dir=videos / "clips"
    )
    _, [first, *_] = clip_frames(clip)
    played = first.to_ndarray(format="rgb24")  # a clip is cut upright: players show it as is
    assert played.shape == (160, 96, 3) and played[:20, -20:, 0].mean() > 200
