"""Dataset readers, by ``--format`` name."""

from pipelines.readers.base import Catalog, Plan, Reader
from pipelines.readers.events import Events
from pipelines.readers.movielens import MovieLens1M, MovieLens100K, MovieLensLatest
from pipelines.readers.synthetic import Synthetic

READERS: dict[str, type[Reader]] = {
    reader.format_name: reader
    for reader in (MovieLens100K, MovieLens1M, MovieLensLatest, Events, Synthetic)
}
"""``--format`` choices; adding a format is one reader class and one entry here."""

__all__ = ["READERS", "Catalog", "Plan", "Reader"]
