"""``pipelines.names.FORMATS`` (``--format`` choices) lists exactly the registered readers."""

from __future__ import annotations

from pipelines import names
from pipelines.readers import READERS


def test_format_names_equal_the_reader_registry_keys():
    assert sorted(names.FORMATS) == sorted(READERS)


def test_format_files_are_each_readers_own_description():
    assert {name: reader.files_help for name, reader in READERS.items()} == names.FORMAT_FILES


def test_split_and_sampling_names_equal_the_pipelines():
    from pipelines import sequences

    assert names.SPLITS == sequences.SPLITS
    assert names.NEGATIVE_SAMPLINGS == sequences.NEGATIVE_SAMPLINGS
