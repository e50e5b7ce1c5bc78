"""Action segments as subtitles: SubRip (.srt) and WebVTT (.vtt), which any video player shows over the video.

Each segment is one cue, "label (confidence%)", from its start to its end. Files are written to a temporary
name beside the target and renamed, so an interrupted run never leaves half a subtitle file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from slowfast_core.segments import ActionSegment

SUBTITLE_FORMATS = {".srt": "srt", ".vtt": "vtt"}


def _stamp(seconds: float, sep: str) -> str:
    """hh:mm:ss{sep}mmm: SRT uses ',' before the milliseconds, WebVTT '.'."""
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cue_text(segment: ActionSegment) -> str:
    """What a cue says: the label and its confidence."""
    return f"{segment.label} ({segment.confidence:.0%})"


def srt_text(segments: Sequence[ActionSegment]) -> str:
    """SubRip: numbered cues `1\\n00:00:03,200 --> 00:00:07,900\\nlabel (78%)\\n\\n`."""
    cues = [f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{cue_text(s)}\n"
            for i, s in enumerate(segments, 1)]
    return "\n".join(cues)


def vtt_text(segments: Sequence[ActionSegment]) -> str:
    """WebVTT: the `WEBVTT` header, then one cue per segment."""
    cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{cue_text(s)}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def write_subtitles(segments: Sequence[ActionSegment], path: str | os.PathLike[str], kind: str) -> Path:
    """Write `segments` to `path` as `kind` ("srt" or "vtt"), atomically; returns the path."""
    text = {"srt": srt_text, "vtt": vtt_text}[kind](segments)
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target
