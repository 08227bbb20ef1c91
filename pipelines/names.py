"""The ``--format`` names of :data:`pipelines.readers.READERS`, without importing the readers.

The readers import pandas and pyarrow; the CLI builds its parser without them.
``tests/pipelines/test_names.py`` checks the names equal the registry's keys.
"""

FORMATS = ("movielens-100k", "movielens-1m", "movielens-latest", "events", "synthetic")
SPLITS = ("user", "per-sequence", "windows")
"""``pipelines.sequences.SPLITS``: how sequences become train/validation/test examples."""
NEGATIVE_SAMPLINGS = ("uniform", "popularity")
"""``pipelines.sequences.NEGATIVE_SAMPLINGS``: how evaluation negatives are drawn."""
FORMAT_FILES = {
    "movielens-100k": "folder with u.data (ratings), u.user, u.item, u.genre",
    "movielens-1m": "folder with ratings.dat, users.dat, movies.dat",
    "movielens-latest": "folder with ratings.csv and movies.csv (no users file: user attributes unknown)",
    "events": ("one .csv/.tsv, .jsonl/.json/.ndjson or .parquet file, or a folder of them; "
               "columns user_id, item_id, timestamp (rename with --column-mapping), "
               "optional rating, click, request_id; a folder may add a users table users.csv "
               "(or .tsv/.jsonl/.parquet) with user_id and user_gender, user_age, "
               "user_occupation, user_region"),
    "synthetic": "folder written by `funnel generate`: events.csv, impressions.csv, users.csv, items.csv, clusters.csv",
}
"""What each format reads: each reader's ``files_help`` (``tests/pipelines/test_names.py`` checks)."""
