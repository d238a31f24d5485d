"""Links from the documentation into the code cannot rot.

Every Markdown link of the form `(path/to/file.py#L42)` must name a file that
exists and a line it has; where the link text is followed by a symbol in
backticks, "(`claim_confirmation`)", that line must contain it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", "node_modules", "var", ".git"}
LINK = re.compile(r"\]\(([^)#\s]+)#L(\d+)\)(?:\s*\(`([^`]+)`\))?")


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
            assert symbol.split("(")[0] in line, f"{document.name}: {target}:{number} is {line!r}"
