import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The stack's scripts (stack.py, mailcatcher.py) are importable by the tests, and so is
# the benchmarks' package (bench/).
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(1, str(ROOT))

pytest_plugins = ["shared.testing"]
