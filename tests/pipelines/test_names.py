"""``pipelines.names.FORMATS`` (``--format`` choices) lists exactly the registered readers."""

from __future__ import annotations

from pipelines import names
from pipelines.readers import READERS


def test_format_names_equal_the_reader_registry_keys():
    assert sorted(names.FORMATS) == sorted(READERS)
