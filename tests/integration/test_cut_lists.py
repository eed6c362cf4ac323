"""The editor's cut list as shots: ``ingest`` reads an EDL, an FCP 7 XML or a folder's
``cuts.*`` written by hand in the formats' own syntax (not by our exporter) and the videos'
shots are exactly their events; a list that does not match its video falls back to detection
with the reason, listed by ``ingest`` and ``info``.

The videos' visible cuts (what detection finds) are deliberately elsewhere than the lists'
events, so a shot that matches an event can only have come from the list.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_ingest import _assert_consistent
from tests.videogen import make_cut_video
from va_app.cli import main
from va_app.config import Settings
from va_app.ingest import ingest
from va_app.store.catalog import Catalog

# 29.97 drop-frame, record timecode from 01:00:00;00: an edit of two camera reels with black
# between its first two events. Frames counted by hand: 01:00:59;25 is frame 1795, the next
# minute starts at 01:01:00;02 (frame 1800: ;00 and ;01 do not exist), 01:01:06;22 is 2000.
PROGRAMME_EDL = """\
TITLE: PROGRAMME V7
FCM: DROP FRAME

001  A001C003 V     C        14:02:10;00 14:02:10;20 01:00:00;00 01:00:00;20
* FROM CLIP NAME:  A001C003_220412.mov
002  BL       V     C        00:00:00;00 00:00:00;10 01:00:00;20 01:00:01;00
003  A002C001 V     C        09:00:01;00 09:00:59;25 01:00:01;00 01:00:59;25
* FROM CLIP NAME:  A002C001_220412.mov
004  A001C003 V     C        14:02:13;10 14:02:13;20 01:00:59;25 01:01:00;07
* FROM CLIP NAME:  A001C003_220412.mov
005  A002C001 V     C        09:01:41;02 09:01:47;17 01:01:00;07 01:01:06;22
* FROM CLIP NAME:  A002C001_220412.mov
"""
PROGRAMME_SHOTS = [(0, 20), (30, 1795), (1795, 1805), (1805, 2000)]

# FCP 7 XML, 25 fps, sequence timecode 10:00:00:00: two clips on V1, an insert on V2 over
# frames 40-80 (the picture shows the top track there).
SCENE_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xmeml>
<xmeml version="4">
  <sequence id="sequence-1">
    <name>Scene 12 cut 3</name>
    <duration>150</duration>
    <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
    <timecode>
      <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
      <string>10:00:00:00</string><frame>900000</frame><displayformat>NDF</displayformat>
    </timecode>
    <media><video>
      <track>
        <clipitem id="clipitem-1">
          <name>B012C004.mov</name><duration>500</duration>
          <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
          <start>0</start><end>60</end><in>100</in><out>160</out>
          <file id="file-1"><name>B012C004.mov</name>
            <pathurl>file:///media/day12/B012C004.mov</pathurl>
            <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate><duration>500</duration>
            <media><video/></media></file>
        </clipitem>
        <clipitem id="clipitem-2">
          <name>B012C007.mov</name><duration>400</duration>
          <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
          <start>60</start><end>150</end><in>10</in><out>100</out>
          <file id="file-2"><name>B012C007.mov</name>
            <pathurl>file:///media/day12/B012C007.mov</pathurl>
            <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate><duration>400</duration>
            <media><video/></media></file>
        </clipitem>
      </track>
      <track>
        <clipitem id="clipitem-3">
          <name>insert_close_up.mov</name><duration>200</duration>
          <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
          <start>40</start><end>80</end><in>0</in><out>40</out>
          <file id="file-3"><name>insert_close_up.mov</name>
            <pathurl>file:///media/day12/insert_close_up.mov</pathurl>
            <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate><duration>200</duration>
            <media><video/></media></file>
        </clipitem>
      </track>
    </video></media>
  </sequence>
</xmeml>
"""
SCENE_SHOTS = [(0, 40), (40, 80), (80, 150)]

# One list for a folder of camera originals (25 fps, their own start timecode): its events
# name the files by reel; a graphics reel names no file here.
CAMERA_EDL = """\
TITLE: SELECTS DAY 3
FCM: NON-DROP FRAME

001  A001C003 V     C        14:02:10:10 14:02:11:05 00:00:00:00 00:00:00:20
002  A002C001 V     C        09:00:02:00 09:00:04:00 00:00:00:20 00:00:02:20
003  GFX01    V     C        00:00:00:00 00:00:01:00 00:00:02:20 00:00:03:20
004  A001C003 V     C        14:02:13:00 14:02:14:00 00:00:03:20 00:00:04:20
"""
CAMERA_SHOTS = {"A001C003": [(10, 30), (75, 100)], "A002C001": [(50, 100)]}

# Lists that do not match their video: an edit whose second event ends past the end of the
# rendered video beside it, and this file's own events mixed with another reel's.
TOO_LONG_EDL = """\
TITLE: TOO LONG
001  CAM7     V     C        00:00:00:00 00:00:02:00 00:00:00:00 00:00:02:00
002  CAM7     V     C        00:00:02:00 00:00:09:00 00:00:02:00 00:00:09:00
"""
MIXED_EDL = """\
TITLE: MIXED
001  MIXED    V     C        00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00
002  ZZ9      V     C        00:00:00:00 00:00:01:00 00:00:01:00 00:00:02:00
"""
DETECTED = [(0, 30), (30, 75), (75, 120)]  # what detection finds in the mismatched videos


def _folder(root: Path) -> Path:
    videos = root / "videos"
    make_cut_video(
        videos / "programme" / "programme.mp4", cuts=[0, 500, 1200, 2000], fps=30000 / 1001
    )
    (videos / "programme" / "programme.edl").write_text(PROGRAMME_EDL)
    make_cut_video(videos / "scene" / "scene.mp4", cuts=[0, 75, 150], fps=25, seed=1)
    (videos / "scene" / "scene.xml").write_text(SCENE_XML)
    camera = videos / "camera"
    make_cut_video(
        camera / "A001C003.mov", cuts=[0, 100, 200], fps=25, seed=2, timecode="14:02:10:00"
    )
    make_cut_video(camera / "A002C001.mov", cuts=[0, 150], fps=25, seed=3, timecode="09:00:00:00")
    (camera / "cuts.edl").write_text(CAMERA_EDL)
    for name, text in (("toolong", TOO_LONG_EDL), ("mixed", MIXED_EDL)):
        make_cut_video(videos / name / f"{name}.mp4", cuts=[0, 30, 75, 120], seed=4)
        (videos / name / f"{name}.edl").write_text(text)
    return videos


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Settings, Path, str]:
    """The folder ingested by the CLI in a pool of two workers; its printed report."""
    root = tmp_path_factory.mktemp("cut-lists")
    videos = _folder(root)
    settings = Settings(data_dir=root / "data", encoder="descriptor")
    printed = _cli(settings, "ingest", str(videos), "--workers", "2")
    return settings, videos, printed


def _cli(settings: Settings, *args: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--data-dir", str(settings.data_dir)])
    assert code == 0
    return out.getvalue()


def _spans(settings: Settings) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for shot in Catalog(settings.sql_url).shots():
        spans.setdefault(Path(shot.video_path).stem, []).append((shot.start_frame, shot.end_frame))
    return spans


def test_a_hand_written_drop_frame_edl_beside_a_video_gives_exactly_its_events(ingested):
    settings, _, _ = ingested
    # Record timecode 01:00:00;00 is the video's frame 0; the black event is no shot.
    assert _spans(settings)["programme"] == PROGRAMME_SHOTS


def test_a_hand_written_fcp_xml_gives_the_picture_of_its_top_track(ingested):
    settings, _, _ = ingested
    assert _spans(settings)["scene"] == SCENE_SHOTS


def test_a_folder_cut_list_maps_reels_to_files_by_their_start_timecode(ingested):
    settings, videos, printed = ingested
    spans = _spans(settings)
    assert {k: spans[k] for k in CAMERA_SHOTS} == CAMERA_SHOTS
    unmatched = f"{videos / 'camera' / 'cuts.edl'} names sources that are no video of its folder"
    assert f"{unmatched}: GFX01" in printed


def test_a_list_that_does_not_match_falls_back_to_detection_with_the_reason(ingested):
    settings, videos, printed = ingested
    spans = _spans(settings)
    assert spans["toolong"] == DETECTED and spans["mixed"] == DETECTED  # nothing half-ingested
    assert "toolong.edl event 002 (CAM7, record 00:00:02:00–00:00:09:00) is outside " in printed
    assert "unknown reel for mixed.mp4" in printed
    _assert_consistent(settings, sum(len(s) for s in spans.values()))


def test_info_lists_the_videos_cut_by_their_lists_and_the_refused_lists(ingested):
    settings, videos, _ = ingested
    info = json.loads(_cli(settings, "info", "--json"))
    used = {
        Path(i["video"]).name: (Path(i["cut_list"]).name, i["shots"]) for i in info["cut_lists"]
    }
    assert used == {
        "programme.mp4": ("programme.edl", 4),
        "scene.mp4": ("scene.xml", 3),
        "A001C003.mov": ("cuts.edl", 2),
        "A002C001.mov": ("cuts.edl", 1),
    }
    refused = {Path(i["video"]).name: i["reason"] for i in info["cut_list_fallbacks"]}
    assert set(refused) == {"toolong.mp4", "mixed.mp4"}
    assert (
        "outside the video: frames 48–216 of 120 (5.00 s at 24.000 fps)" in refused["toolong.mp4"]
    )
    text = _cli(settings, "info")
    assert "shots from cut lists: 4 videos" in text and "cut lists not used" in text


def test_a_second_run_changes_nothing_and_a_new_list_reingests_its_video(ingested, tmp_path):
    settings, videos, _ = ingested
    work = tmp_path / "videos"
    shutil.copytree(videos / "toolong", work)
    copy = Settings(data_dir=tmp_path / "data", encoder="descriptor")
    ingest(copy, work, workers=1)
    again = ingest(copy, work, workers=1)
    assert again.unchanged_videos and not again.added_videos
    (work / "toolong.edl").write_text(TOO_LONG_EDL.replace("00:00:09:00", "00:00:05:00"))
    fixed = ingest(copy, work, workers=1)
    assert fixed.replaced_videos and fixed.cut_list_videos == [str(work / "toolong.mp4")]
    assert _spans(copy)["toolong"] == [(0, 48), (48, 120)]
    (work / "toolong.edl").unlink()  # no list any more: detection again
    ingest(copy, work, workers=1)
    assert _spans(copy)["toolong"] == DETECTED
