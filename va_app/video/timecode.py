"""Timecode: a video's frames as OpenTimelineIO times, and the start timecode its file carries.

Frames are numbered here as everywhere in the tool: presentation time × the file's average
frame rate, rounded (:mod:`va_app.video.frames`). Editors count in SMPTE timecode, which
exists only at the standard rates (23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60, ...). A
video's *timecode rate* is the standard rate nearest its own (OpenTimelineIO's
``nearest_valid_timecode_rate``):

- a constant-rate file at a standard rate (the usual case) keeps its frames one to one —
  frame 1234 is ``RationalTime(1234, 24000/1001)``, exactly;
- a variable-frame-rate (or odd-rate) file has no frame grid an editor could name, so its
  frames' presentation times are put on the grid of its timecode rate: a shot boundary lands
  on the frame of that rate shown at its time, within half a frame of that rate — what an NLE
  that conforms the file to that rate shows.

A file's start timecode (camera originals carry one, in a QuickTime ``tmcd`` track or a
``timecode`` tag) offsets every source time: frame 0 of a file that starts at 01:00:00:00 is
source timecode 01:00:00:00. Timecode at 29.97 and 59.94 written with ``;`` is drop-frame.
"""

from __future__ import annotations

from pathlib import Path

import av
import opentimelineio as otio

RationalTime = otio.opentime.RationalTime
#: A file rate this close (relative) to a standard rate *is* that rate ("23.976" → 24000/1001).
SAME_RATE = 1e-4
#: The timecode rate of footage slower than every standard rate (time-lapse, 8 fps cameras).
SLOW_FOOTAGE_RATE = 24.0


def timecode_rate(fps: float) -> float:
    """The standard timecode rate of a video with ``fps`` frames per second: its own when it is
    one, the nearest one otherwise — 24 below the slowest (OpenTimelineIO knows none under
    23.976 and answers 0 far below it; NLEs conform such footage to a film rate), 60 above
    the fastest."""
    if fps <= 0:
        raise ValueError(f"bad frame rate {fps}")
    return float(RationalTime.nearest_valid_timecode_rate(fps)) or SLOW_FOOTAGE_RATE


def on_timecode_grid(fps: float) -> bool:
    """Whether a file at ``fps`` has frames an editor can name one to one (a standard rate)."""
    rate = timecode_rate(fps)
    return abs(fps - rate) <= SAME_RATE * rate


def frame_time(frame: int, fps: float) -> RationalTime:
    """Frame ``frame`` of a file at ``fps`` as a time on its timecode rate, in whole frames."""
    rate = timecode_rate(fps)
    if on_timecode_grid(fps):
        return RationalTime(int(frame), rate)
    return RationalTime(round(RationalTime(frame, fps).value_rescaled_to(rate)), rate)


def time_frame(time: RationalTime, fps: float) -> int:
    """The frame of a file at ``fps`` shown at ``time`` (the inverse of :func:`frame_time`)."""
    grid = timecode_rate(fps) if on_timecode_grid(fps) else fps
    return round(time.value_rescaled_to(grid))


def start_timecode(path: str | Path, fps: float) -> RationalTime | None:
    """The timecode of the file's first frame (its ``timecode`` tag, as FFmpeg reports a
    ``tmcd`` track), at its timecode rate; None when it carries none (or none readable)."""
    text = _timecode_tag(path)
    if not text:
        return None
    try:
        return otio.opentime.from_timecode(text, timecode_rate(fps))
    except ValueError:
        return None  # a tag that is not timecode at this rate: as if there were none


def _timecode_tag(path: str | Path) -> str:
    try:
        with av.open(str(path)) as container:
            tags = [dict(stream.metadata) for stream in container.streams]
            tags.append(dict(container.metadata))
    except (av.error.FFmpegError, OSError):
        return ""
    return next((t["timecode"] for t in tags if t.get("timecode")), "")
