"""tools/fast_stem.py: it finds a dead Fast stem channel in a checkpoint (README, "What stalls")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from slowfast_core.model import SlowFast, get_config
from slowfast_core.weights.native import save_model

TOOL = Path(__file__).resolve().parents[1] / "tools" / "fast_stem.py"


def test_the_tool_reports_a_dead_stem_channel_and_a_live_one(tiny_synth: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = SlowFast(get_config("slowfast_tiny", num_classes=4))  # beta 1/4: a two-channel Fast stem
    bn = net.blocks[0].multipathway_blocks[1].norm
    with torch.no_grad():
        bn.weight[1], bn.bias[1] = 0.0, -10.0  # channel 1's ReLU is zero for every input
    save_model(net, tmp_path / "m.pyth")
    done = subprocess.run([sys.executable, str(TOOL), str(tiny_synth), str(tmp_path / "m.pyth"), "--clips", "4",
                           "--jsonl"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["channels"] == 2
    zeros = rows[0]["zeros"]
    assert zeros[1] == 1.0 and zeros[0] < 0.9  # the dead one, and one that passes the clip on
    assert rows[0]["bn_bias"][1] == -10.0 and rows[0]["change"] > 0
