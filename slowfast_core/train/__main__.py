"""`python -m slowfast_core.train …` (what `torchrun` runs): the same arguments as `slowfast train`."""

from __future__ import annotations

import sys

from slowfast_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
