import sys
from pathlib import Path

# The stack's scripts (stack.py, mailcatcher.py) are importable by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

pytest_plugins = ["shared.testing"]
