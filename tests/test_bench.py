"""The pure parts of the benchmarks: the statistics, the pages they write, the parsers.

What the benchmarks measure is checked by `make bench`, never by a timed test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report, stats
from bench.__main__ import resolve
from bench.confirmation import order_number
from bench.figures import Figure, Verdict
from bench.registry import MODULES
from bench.startup import BEATS, Timeline, import_self_times, read_supervisord_log


def test_median_and_percentiles_interpolate_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert stats.median(values) == 2.5
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 50) == 2.5
    assert stats.percentile(values, 100) == 4.0
    # numpy.percentile(range(1, 101), 95) == 95.05
    assert stats.percentile([float(n) for n in range(1, 101)], 95) == pytest.approx(95.05)


def test_statistics_of_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        stats.median([])
    with pytest.raises(ValueError, match="0 to 100"):
        stats.percentile([1.0], 101)


def test_rounds_rotate_so_that_no_variant_always_goes_first() -> None:
    assert list(stats.rounds(["a", "b"], 4)) == [["a", "b"], ["b", "a"], ["a", "b"], ["b", "a"]]
    assert list(stats.rounds(["a", "b", "c"], 2)) == [["a", "b", "c"], ["b", "c", "a"]]


def test_paired_comparisons_compare_within_each_round() -> None:
    # A slow second round slows both sides: paired, the ratio stays 1.1.
    measured, baseline = [1.1, 11.0, 2.2], [1.0, 10.0, 2.0]
    assert stats.paired_ratio(measured, baseline) == pytest.approx(1.1)
    assert stats.paired_difference(measured, baseline) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="rounds"):
        stats.paired_ratio([1.0], [1.0, 2.0])


def test_a_figure_passes_at_or_under_its_target() -> None:
    assert Figure("f", 1.05, "x", target=1.05).verdict is Verdict.MET
    assert Figure("f", 1.06, "x", target=1.05).verdict is Verdict.MISSED
    assert Figure("f", 99.0, "ms").verdict is Verdict.NONE


def test_values_are_shown_with_their_unit() -> None:
    assert report.format_value(1.0312, "x") == "1.031x"
    assert report.format_value(0.02714, "ms") == "0.0271 ms"
    assert report.format_value(23.71, "s") == "23.7 s"
    assert report.format_value(505.2, "ms") == "505 ms"


HEADER = {"CPU": "a CPU", "git commit": "abc (bench)"}
RESULT = report.ModuleResult(
    module="bench.example",
    title="An example",
    description="What it measures.",
    seconds=12.0,
    figures=(
        Figure("fast | enough", 0.5, "ms", target=1.0, comparison="p50", samples=(0.51234567,)),
        Figure("slow", 2.0, "ms", target=1.0),
        Figure("context", 3.0, "s"),
    ),
)


def test_the_page_has_the_machine_and_a_row_per_figure_with_its_verdict() -> None:
    page = report.markdown(HEADER, [RESULT])
    assert "| CPU | a CPU |" in page
    assert "## An example" in page
    assert "[`bench/example.py`](../bench/example.py), 12 s. What it measures." in page
    assert "| fast \\| enough | 0.5 ms | <= 1 ms | pass | p50 |" in page
    assert "| slow | 2 ms | <= 1 ms | miss |  |" in page
    assert "| context | 3 s |  | - |  |" in page


def test_writing_the_page_again_keeps_the_notes_written_by_hand(tmp_path: Path) -> None:
    page, data = tmp_path / "benchmarks.md", tmp_path / "benchmarks.json"
    report.write(HEADER, [RESULT], markdown_path=page, json_path=data)
    page.write_text(page.read_text() + "## Notes\n\nWhy the slow one misses.\n")

    report.write(HEADER, [RESULT], markdown_path=page, json_path=data)
    report.write(HEADER, [RESULT], markdown_path=page, json_path=data)

    text = page.read_text()
    assert text.count(report.NOTES_MARKER) == 1
    assert text.endswith(f"{report.NOTES_MARKER}\n## Notes\n\nWhy the slow one misses.\n")
    figures = json.loads(data.read_text())["modules"][0]["figures"]
    assert figures[0]["samples"] == [0.5123]
    assert [figure["verdict"] for figure in figures] == ["pass", "miss", "-"]


def test_the_registry_names_modules_of_the_bench_package_only_once() -> None:
    modules = [entry.partition(":")[0] for entry in MODULES]
    assert len(set(modules)) == len(modules)
    root = Path(__file__).resolve().parents[1]
    for name in modules:
        assert name.startswith("bench."), name
        assert (root / (name.replace(".", "/") + ".py")).is_file(), name


def test_a_benchmark_is_named_with_or_without_its_package() -> None:
    assert resolve(["integration", "bench.startup"]) == ["bench.integration", "bench.startup"]
    with pytest.raises(SystemExit, match=r"no benchmark bench\.nothing"):
        resolve(["nothing"])


def test_the_order_number_is_read_from_the_confirmation_message_id() -> None:
    assert order_number("<order-SO-7K2M9QXA.confirmation@example.com>") == "SO-7K2M9QXA"
    assert order_number("<20261201.123@vm>") is None


def test_import_times_are_summed_by_top_level_package() -> None:
    output = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |     celery.utils",
            "import time:        50 |        150 |   celery",
            "import time:      2000 |       2000 | django",
        ]
    )
    assert import_self_times(output) == {"django": 2000, "celery": 150}


def test_spawn_times_and_the_beats_running_come_from_supervisords_log(tmp_path: Path) -> None:
    log = tmp_path / "supervisord.log"
    old = "2026-12-01 21:57:31,256 INFO spawned: 'mail' with pid 1\n"
    log.write_text(old)
    log.write_text(
        old
        + "2026-12-01 21:57:54,088 INFO spawned: 'mail' with pid 30062\n"
        + "2026-12-01 21:57:54,115 INFO spawned: 'shop-beat' with pid 30068\n"
        + "2026-12-01 21:57:57,754 INFO success: mail entered RUNNING state, process has...\n"
        + "2026-12-01 21:57:57,754 INFO success: shop-beat entered RUNNING state, process...\n"
    )
    timeline = Timeline(started=0.0)

    read_supervisord_log(log, len(old), timeline)

    assert set(timeline.spawned) == {"mail", "shop-beat"}
    assert timeline.healthy["shop-beat"] - timeline.spawned["shop-beat"] == pytest.approx(3.639)
    assert "mail" not in timeline.healthy  # probed, not taken from the log
    assert "shop-beat" in BEATS
