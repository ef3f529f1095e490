import sys
from pathlib import Path

# operating_helpers.py lives beside the tests, gatesim.py in tests/core.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
