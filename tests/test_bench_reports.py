"""bench/reports.py runs: a change that breaks it fails here, not when someone next measures."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.harness import BenchError
from bench.postgres import private_postgres, server_binaries
from bench.reports import FIRST_DAY, TODAY, engine_for, fill_sales, round_ratios, side_by_side
from reports.models import Sale
from reports.seed import PRODUCTS, REGIONS

ROOT = Path(__file__).resolve().parents[1]


def bench_reports(*args: str) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "bench.reports", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_reports_bench_measures_a_small_database() -> None:
    (result,) = bench_reports("--rows", "2000", "--repeat", "1")
    assert (result["database"], result["sales"], result["slices"]) == ("sqlite", 2000, 36)
    assert result["groups"] == 36 * 5  # months by regions
    assert min(result["build_s"], result["group_by_s"], result["task_s"]) > 0
    assert {name: len(runs) for name, runs in result["samples"].items()} == dict.fromkeys(
        ("group_by", "task", "build"), 1
    )
    assert len(result["task_over_group_by_rounds"]) == 1
    assert result["rss_peak_mib"] >= result["rss_before_mib"] > 0


def test_the_comparisons_run_round_by_round_and_give_medians() -> None:
    ran: list[str] = []
    times = side_by_side(3, {"a": lambda: ran.append("a"), "b": lambda: ran.append("b")})
    # A warm-up of each, then rounds: a busy moment slows both alike, not one of them.
    assert ran == ["a", "b"] * 4
    assert [len(times["a"]), len(times["b"])] == [3, 3]
    assert round_ratios([2.0, 9.0, 3.0], [1.0, 1.0, 2.0]) == [2.0, 9.0, 1.5]  # round by round


def test_the_split_is_built_in_parts_by_a_real_worker(redis_url: str) -> None:
    broker = f"{redis_url}/14"
    args = ["--rows", "3000", "--repeat", "1", "--split", "2", "--broker-url", broker]
    (result,) = bench_reports(*args)
    (split,) = result["split"]
    assert split["processes"] == 2
    assert split["parts"] == [4]  # three years: 36 slices in 4 parts
    assert split["seconds"] > 0


def check_filled(url: str) -> None:
    fill_sales(url, 20_000)
    engine = engine_for(url)
    with engine.connect() as connection:
        rows = connection.execute(select(Sale.product, Sale.quantity, Sale.amount)).all()
        days = connection.execute(select(func.min(Sale.sold_on), func.max(Sale.sold_on))).one()
        regions = set(connection.scalars(select(Sale.region).distinct()))
    engine.dispose()
    assert len(rows) == 20_000
    # Each sale's name, price and quantity were drawn together: the amount agrees.
    assert all(Decimal(str(amount)) == PRODUCTS[product] * qty for product, qty, amount in rows)
    assert {product for product, _, _ in rows} == set(PRODUCTS)
    assert {qty for _, qty, _ in rows} == {1, 2, 3, 4, 5}
    assert regions == set(REGIONS)
    assert tuple(days) == (FIRST_DAY, TODAY)


def test_the_sales_generated_in_sqlite_are_like_the_demo_data(tmp_path: Path) -> None:
    check_filled(f"sqlite:///{tmp_path}/sales.sqlite3")


def needs_postgresql() -> None:
    try:
        server_binaries()
    except BenchError as error:
        pytest.skip(str(error))


def test_the_sales_generated_in_postgresql_are_like_the_demo_data() -> None:
    needs_postgresql()
    with private_postgres("reports_bench") as url:
        check_filled(url)
