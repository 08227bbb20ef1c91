"""Tiny hand-written datasets and output decoders for the pipeline tests (imported by them)."""

from __future__ import annotations

from pathlib import Path

from funnel import schema, tfrecord

GENRES = ("unknown", "Action", "Comedy", "Drama")
NOW = 2_000_000_000
"""The injected "now" of every test run (2033-05-18)."""


ML100K = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k"
"""MovieLens 100K as the workplace ships it, beside the repository (never committed)."""

def write_ml100k(folder: Path, ratings: list[str], users: dict[str, tuple], items: dict[str, tuple]) -> Path:
    """An ML-100K-format folder.

    Args:
        ratings: raw ``u.data`` lines (tab-separated user, item, rating, time).
        users: id -> (age, gender, occupation, zip).
        items: id -> (title, release date like ``01-Jan-1995`` or "", genre names).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(line + "\n" for line in ratings), encoding="latin-1")
    (folder / "u.user").write_text("".join(f"{u}|{a}|{g}|{o}|{z}\n" for u, (a, g, o, z) in users.items()),
                                   encoding="latin-1")
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)), encoding="latin-1")
    lines = []
    for item, (title, released, genres) in items.items():
        flags = "|".join("1" if g in genres else "0" for g in GENRES)
        lines.append(f"{item}|{title}|{released}||http://x|{flags}\n")
    (folder / "u.item").write_text("".join(lines), encoding="latin-1")
    return folder


def decode(record: bytes) -> dict[str, list]:
    """A serialized ``tf.train.Example`` as ``{name: list of values}``."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(record)
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = list(getattr(feature, kind).value)
    return out


def read_examples(out: Path, family: str, split: str) -> list[dict[str, list]]:
    """Every example of one split, in shard order then file order."""
    layout = schema.Layout(out)
    files = layout.retrieval_files(split) if family == "retrieval" else layout.ranking_files(split)
    examples = []
    for path in files:
        with open(path, "rb") as handle:
            examples += [decode(r) for r in tfrecord.read_records(handle)]
    return examples


def vocabulary(out: Path, name: str) -> list[str]:
    lines = schema.Layout(out).vocab_file(name).read_text().splitlines()
    return ["<pad>", "<oov>"] + lines
