"""The one way SlowFast Live imports OpenVINO: with OpenVINO's usage telemetry switched off.

`import openvino` also imports `openvino_telemetry`, and every `openvino.convert_model` (and NNCF's
quantisation) then sends usage events to Google Analytics unless the person has opted out with OpenVINO's own
consent file: about twenty per conversion, each from a process forked off the converting one. Measured here
(2 cores, offline): a cold conversion of fast_tiny took 5.0-6.0 s with it and 4.0-4.6 s without, the
slowfast_8x8_r50 one 8.8 s and 7.2 s. SlowFast Live sends nothing anywhere, so before OpenVINO or NNCF is first
imported it marks the telemetry package as absent; both libraries then use their own no-op stand-ins, as on a
machine without that package.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType

logger = logging.getLogger(__name__)

#: the package OpenVINO's converter and NNCF send their usage events through
TELEMETRY_PACKAGE = "openvino_telemetry"


def without_telemetry() -> bool:
    """Make `import openvino_telemetry` fail in this process (OpenVINO and NNCF then send nothing).

    True when it is off; False when something imported it before this call (it cannot be taken back then).
    """
    if TELEMETRY_PACKAGE in sys.modules and sys.modules[TELEMETRY_PACKAGE] is not None:
        logger.debug("%s was imported before SlowFast Live could switch it off", TELEMETRY_PACKAGE)
        return False
    sys.modules[TELEMETRY_PACKAGE] = None  # `import` raises ImportError for a None entry
    return True


def import_openvino() -> ModuleType:
    """`import openvino` with its telemetry off (ImportError when OpenVINO is not installed)."""
    without_telemetry()
    import openvino

    return openvino
