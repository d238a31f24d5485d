"""Links from the documentation into the code cannot rot.

Every Markdown link of the form `(path/to/file.py#L42)` must name a file that
exists and a line it has; where the link text is followed by a symbol in
backticks, "(`claim_confirmation`)", that line must contain it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import relink_docs

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", "node_modules", "var", ".git"}
LINK = re.compile(r"\]\(([^)#\s]+)#L(\d+)\)(?:\s*\(`([^`]+)`\))?")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def documents() -> list[Path]:
    return [path for path in ROOT.rglob("*.md") if not SKIP & set(path.relative_to(ROOT).parts)]


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_line_link_points_at_a_line_that_exists(document: Path) -> None:
    for target, number, symbol in LINK.findall(document.read_text()):
        path = (document.parent / target).resolve()
        assert path.is_file(), f"{document.name}: {target} does not exist"
        lines = path.read_text().splitlines()
        assert int(number) <= len(lines), f"{document.name}: {target} has no line {number}"
        if symbol:
            line = lines[int(number) - 1]
            assert symbol.split("(")[0] in line, (
                f"{document.name}: {target}:{number} is {line!r} (`make relink` moves the link)"
            )


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_image_shown_is_in_the_repository(document: Path) -> None:
    for target in IMAGE.findall(document.read_text()):
        path = (document.parent / target).resolve()
        assert path.is_file(), f"{document.name} shows {target}, which is not there"


def test_relink_moves_a_link_to_the_line_its_symbol_moved_to(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text("import os\n\n\ndef claim(order_id):\n    return order_id\n")
    document = tmp_path / "guide.md"
    document.write_text(
        "See [`code.py:1`](code.py#L1) (`def claim`), [x](code.py#L2) (`gone`), [y](code.py#L1)."
    )

    text, problems = relink_docs.relink(document)

    assert text.startswith("See [`code.py:4`](code.py#L4) (`def claim`), [x](code.py#L2)")
    assert problems == ["code.py: `gone` is nowhere in it"]


RELIABILITY = ROOT / "docs" / "reliability.md"
PITFALLS = ROOT / "docs" / "pitfalls.md"
CODE = re.compile(r"`([^`]+)`")
PATH = re.compile(r"^[\w.-]+(/[\w.*-]+)+/?$")
TEST_ID = re.compile(r"^(?P<path>[\w./-]+\.py)::(?P<test>\w+)(\[[\w-]+\])?$")
NAME = re.compile(r"^[A-Za-z_][\w.]*(\(\))?$")


def tracked_source() -> str:
    """The text of every file the reliability table may name, the docs excepted."""
    suffixes = {".py", ".conf", ".yaml", ".sh", ".cfg", ".toml", ".ini"}
    files = [
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and not SKIP & set(path.relative_to(ROOT).parts)
        and (path.suffix in suffixes or path.parent.name == "bin" or path.name == "Makefile")
    ]
    return "\n".join(path.read_text(errors="replace") for path in files)


def test_every_test_the_pitfalls_name_exists() -> None:
    named = [
        match
        for code in CODE.findall(PITFALLS.read_text())
        for item in code.split(", ")
        if (match := TEST_ID.fullmatch(item.strip()))
    ]
    assert len(named) >= 11  # at least one per pitfall
    for match in named:
        path = ROOT / match["path"]
        assert path.is_file(), f"{match[0]}: no such file"
        assert f"def {match['test']}(" in path.read_text(), f"{match[0]}: no such test"


def test_the_reliability_table_names_only_code_and_tests_that_exist() -> None:
    """Each path exists, each test is defined where it is said to be, each name is in the code."""
    source = tracked_source()
    for code in CODE.findall(RELIABILITY.read_text()):
        for item in (part.strip() for part in code.split(", ")):
            if match := TEST_ID.fullmatch(item):
                path = ROOT / match["path"]
                assert path.is_file(), f"{item}: no such file"
                assert f"def {match['test']}(" in path.read_text(), f"{item}: no such test"
            elif PATH.fullmatch(item) and "*" not in item:
                assert (ROOT / item.replace("APP/", "django_shop/")).exists(), f"{item}: missing"
            elif NAME.fullmatch(item) and item not in {"make test", "make lint"}:
                name = item.removesuffix("()").rpartition(".")[2]
                # Case-insensitive: SMTP_TIMEOUT is the variable of `smtp_timeout`.
                found = re.search(rf"\b{re.escape(name)}\b", source, re.IGNORECASE)
                assert found, f"{item}: not in the code"
