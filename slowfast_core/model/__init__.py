"""The SlowFast network: configs, blocks, fusion, head, builder and FLOP count."""

from slowfast_core.model.config import FUSION_KINDS, PRESETS, SlowFastConfig, arch_names, get_config
from slowfast_core.model.net import SlowFast

__all__ = ["FUSION_KINDS", "PRESETS", "SlowFast", "SlowFastConfig", "arch_names", "get_config"]
