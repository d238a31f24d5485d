"""Point the documentation's line links at the lines their symbols moved to.

`python scripts/relink_docs.py` (`make relink`): every Markdown link of the form
[`path/file.py:42`](path/file.py#L42) (`claim_confirmation`) whose line no longer
holds its symbol is moved to the line that does: the one nearest the old line when
the symbol is on several. The line number in the link's text follows. A link whose
symbol is nowhere in its file, or that names no symbol, is reported, not guessed:
tests/test_docs.py fails on it until a person mends it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".venv-flower", "node_modules", "var", ".git"}
LINK = re.compile(
    r"\[(?P<text>[^\]]*)\]\((?P<target>[^)#\s]+)#L(?P<line>\d+)\)"
    r"(?P<symbol_part>\s*\(`(?P<symbol>[^`]+)`\))?"
)


def documents(root: Path = ROOT) -> list[Path]:
    return [path for path in root.rglob("*.md") if not SKIP & set(path.relative_to(root).parts)]


def line_of(symbol: str, lines: list[str], near: int) -> int | None:
    """The 1-based line holding `symbol` (up to its first parenthesis) nearest `near`."""
    wanted = symbol.split("(")[0]
    found = [number for number, line in enumerate(lines, 1) if wanted in line]
    return min(found, key=lambda number: abs(number - near)) if found else None


def relink(document: Path) -> tuple[str, list[str]]:
    """The document's text with every movable link moved, and what could not be."""
    problems: list[str] = []

    def move(match: re.Match[str]) -> str:
        target, old = match["target"], int(match["line"])
        path = (document.parent / target).resolve()
        if not path.is_file():
            problems.append(f"{target} does not exist")
            return match[0]
        lines = path.read_text().splitlines()
        symbol = match["symbol"]
        if symbol is None:
            if old > len(lines):
                problems.append(f"{target}#L{old}: no such line, and no symbol to find")
            return match[0]
        new = line_of(symbol, lines, old)
        if new is None:
            problems.append(f"{target}: `{symbol}` is nowhere in it")
            return match[0]
        text = re.sub(rf":{old}(?=`?$)", f":{new}", match["text"])
        return f"[{text}]({target}#L{new}){match['symbol_part']}"

    return LINK.sub(move, document.read_text()), problems


def main() -> int:
    failed = False
    for document in documents():
        text, problems = relink(document)
        if text != document.read_text():
            document.write_text(text)
            print(f"relinked {document.relative_to(ROOT)}")
        for problem in problems:
            failed = True
            print(f"{document.relative_to(ROOT)}: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
