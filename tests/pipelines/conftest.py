"""Make ``pipeline_fixtures`` (tiny datasets, output decoders) importable by the tests here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
