"""The ``--format`` names of :data:`pipelines.readers.READERS`, without importing the readers.

The readers import pandas and pyarrow; the CLI builds its parser without them.
``tests/pipelines/test_names.py`` checks the names equal the registry's keys.
"""

FORMATS = ("movielens-100k", "movielens-1m", "movielens-latest", "events", "synthetic")
SPLITS = ("user", "per-sequence", "windows")
"""``pipelines.sequences.SPLITS``: how sequences become train/validation/test examples."""
NEGATIVE_SAMPLINGS = ("uniform", "popularity")
"""``pipelines.sequences.NEGATIVE_SAMPLINGS``: how evaluation negatives are drawn."""
