"""Output IO that every runner can execute, and the all-or-nothing commit.

Beam's ``WriteToText`` finalises an empty file on the DaskRunner, so outputs are
written by the pipeline's own DoFns: each user bucket writes its own shard
file, named by bucket (``train-00003-of-00008.tfrecord``), so the output does
not depend on which worker ran what or in which order. Each file is written
under a temporary name and renamed when complete (a retried bundle simply
rewrites it). Everything goes into a staging folder beside ``--out`` that
:func:`commit` renames into place only after the whole pipeline succeeded: a
crash never leaves a half-written dataset that looks whole.

Workers write to the staging folder directly, so a multi-machine cluster needs
it on a shared filesystem; the local runners here all share one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

import pandas as pd

from funnel import schema, tfrecord
from pipelines import rows as R

SHARD_NAME = "{split}-{index:05d}-of-{count:05d}.tfrecord"
STAGING_SUFFIX = ".staging-"


def shard_path(root: str | Path, family: str, split: str, index: int, count: int) -> Path:
    return Path(root) / family / SHARD_NAME.format(split=split, index=index, count=count)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "wb") as handle:
            write(handle)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def write_examples(path: Path, encoder: tfrecord.ExampleEncoder,
                   columns: Mapping[str, np.ndarray]) -> int:
    """Write a batch of examples as one TFRecord file; returns the count."""
    content, count = encoder.encode_records(columns)
    _atomic_write(path, lambda handle: handle.write(content))
    return count


def write_records(path: Path, records: Sequence[bytes]) -> int:
    """Write serialized records as one TFRecord file; returns the count."""
    content = tfrecord.frame_records(records)
    _atomic_write(path, lambda handle: handle.write(content))
    return len(records)


def write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_deadletter(root: str | Path, reason: str, dead: pd.DataFrame, folder: str = "") -> int:
    """``deadletter/[<folder>/]<reason>.jsonl``: one JSON object per bad row, by file and line."""
    dead = dead.sort_values([R.SOURCE, R.LINE], kind="stable")
    lines = [json.dumps({R.SOURCE: source, R.LINE: int(line), R.ROW: row, R.REASON: why,
                         R.DETAIL: detail}, ensure_ascii=False)
             for source, line, row, why, detail in dead[list(R.DEAD_COLUMNS)].itertuples(index=False)]
    write_text(Path(root) / schema.Layout.DEADLETTER_DIR / folder / f"{reason}.jsonl",
               "".join(line + "\n" for line in lines))
    return len(lines)


def staging_dir(out: str | Path) -> Path:
    """A fresh staging folder beside ``out`` (same filesystem, so renames are atomic)."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(out.name + STAGING_SUFFIX + uuid.uuid4().hex[:8])
    for sub in (schema.Layout.VOCAB_DIR, schema.Layout.RETRIEVAL_DIR, schema.Layout.RANKING_DIR,
                schema.Layout.DEADLETTER_DIR):
        (staging / sub).mkdir(parents=True)
    return staging


def check_replaceable(out: str | Path) -> None:
    """``out`` must be absent, empty, or an earlier pipeline output (has ``stats.json``)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / schema.Layout.STATS).exists())):
        raise ValueError(f"--out {out} exists and is not an earlier `funnel preprocess` output; "
                         f"refusing to replace it")


def commit(staging: Path, out: str | Path) -> None:
    """Move the finished staging folder to ``out``, replacing an earlier output."""
    out = Path(out).absolute()
    check_replaceable(out)
    old = None
    if out.exists():
        old = out.with_name(out.name + ".old-" + uuid.uuid4().hex[:8])
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
