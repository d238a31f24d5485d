"""bench/reports.py runs: a change that breaks it fails here, not when someone next measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_reports_bench_measures_a_small_database() -> None:
    command = [sys.executable, "-m", "bench.reports", "--rows", "2000", "--repeat", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    assert (result["database"], result["sales"], result["slices"]) == ("sqlite", 2000, 36)
    assert result["groups"] == 36 * 5  # months by regions
    assert min(result["build_s"], result["group_by_s"], result["task_s"]) > 0
    assert result["rss_peak_mib"] >= result["rss_before_mib"] > 0
