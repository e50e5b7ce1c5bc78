"""Typed errors for user mistakes and environment failures.

Every error a user can cause (a missing file, a wrong checkpoint, no network, no camera) is raised as a
`SlowFastError` subclass whose message is one line saying what was wrong and what to do. The CLI and the
GUI show that line instead of a traceback.
"""

from __future__ import annotations


class SlowFastError(Exception):
    """Base class: the message is a complete, one-line explanation meant for the user."""


class CheckpointError(SlowFastError):
    """A checkpoint file is missing, unreadable, truncated, or for another architecture."""


class WeightsError(SlowFastError):
    """A named weights entry is unknown, or its download failed or did not verify."""


class SourceError(SlowFastError):
    """A frame source (camera, file, synthetic) could not be opened or stopped delivering."""


class VideoError(SourceError):
    """A video file is missing, not a video, empty, or cut short (a file is a frame source too)."""


class ConfigError(SlowFastError, ValueError):
    """A model or pipeline configuration is inconsistent (also a ValueError, as builders promise)."""


class InferenceError(SlowFastError):
    """The model gave no usable answer for a window (NaN or infinite outputs): an error, never a prediction."""


class ExportError(SlowFastError):
    """An exported model could not be written, or its runtime's answer differs from the eager model's."""


def exit_status(signum: int) -> int:
    """The shell's status for a run that a signal ended: 130 for SIGINT, 143 for SIGTERM (`slowfast` and
    `slowfast run` both exit with it)."""
    return 128 + int(signum)
