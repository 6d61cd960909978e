"""Kept for old instructions: ``python bench/quick.py`` is now ``python -m bench --quick``."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.run import main

    sys.exit(main(["--quick", *sys.argv[1:]]))
