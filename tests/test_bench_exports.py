"""bench/exports.py runs: a change that breaks it fails here, not when someone next measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_exports_bench_measures_a_small_archive() -> None:
    command = [sys.executable, "-m", "bench.exports", "--sizes", "200", "--repeat", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["exports"]
    assert result["posts"] == 200
    assert result["seconds"] > 0
    assert result["peak_mib"] >= result["imported_mib"] > 0
