"""``funnel candidates``' driver: train the out-of-fold models, run the lists pipeline, write ``stats.json``.

All IO decisions live here (Beam's example style): the driver writes
``options.json``, trains the out-of-fold retrieval models
(:mod:`retrieval.folds`), clears earlier lists, runs
:class:`~retrieval.candidate_pipeline.CandidateLists` on the runner the Beam
options name (:mod:`pipelines.runners`: DirectRunner by default,
``--runner=DaskRunner`` as for ``funnel preprocess``), and writes
``stats.json`` from the counts the pipeline's one sink gathered (the
DaskRunner's pipeline result carries no metrics).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Sequence

from funnel import schema
from pipelines import runners
from pipelines.pipeline import buckets_for
from retrieval.candidate_lists import MAIN_MODEL, ListOptions, summarise
from retrieval.candidate_pipeline import CandidateLists, ListJob
from retrieval.folds import train_fold_models

logger = logging.getLogger(__name__)

OPTIONS_FILE = "options.json"
COUNTS_FILE = ".list_counts.json"
"""The sink's summed counts, read by the driver into ``stats.json`` and then removed."""
EXAMPLE_BYTES_PER_BUCKET = 8 << 20
"""Serialized retrieval examples per user bucket (about 50k examples): a bucket's
examples and lists fit in a worker many times over, however large the dataset."""


def list_buckets(data_dir: str | Path) -> int:
    """User buckets for ``data_dir``'s retrieval examples: one per ``EXAMPLE_BYTES_PER_BUCKET``, at least 4."""
    layout = schema.Layout(data_dir)
    size = sum(path.stat().st_size for split in schema.SPLITS for path in layout.retrieval_files(split))
    return buckets_for(size, EXAMPLE_BYTES_PER_BUCKET)


def build_candidate_lists(data_dir: str | Path, run_dir: str | Path, out: str | Path,
                          options: ListOptions, beam_args: Sequence[str] = ()) -> dict:
    """Train the out-of-fold models, run the Beam job, write and return ``stats.json``.

    Raises:
        FileNotFoundError: a split of ``data_dir`` has no retrieval examples.
    """
    data_dir, run_dir, out = Path(data_dir), Path(run_dir), Path(out)
    schema.FeatureMap.load(data_dir)
    layout = schema.Layout(data_dir)
    for split in schema.SPLITS:
        if not layout.retrieval_files(split):
            raise FileNotFoundError(f"{layout.root}: no {split} retrieval examples; run `funnel preprocess`")
    out.mkdir(parents=True, exist_ok=True)
    (out / OPTIONS_FILE).write_text(json.dumps({
        "data": str(data_dir.resolve()), "retrieval": str(run_dir.resolve()),
        **dataclasses.asdict(options)}, indent=2) + "\n")
    runs = {MAIN_MODEL: str(run_dir.resolve())}
    if options.folds > 1:
        fold_runs = train_fold_models(run_dir, data_dir, out, options.folds, options.seed)
        runs.update({fold: str(path.resolve()) for fold, path in enumerate(fold_runs)})
    for old in (out / schema.Layout.LISTS_DIR).glob("*.tfrecord"):
        old.unlink()
    counts_file = out / COUNTS_FILE
    counts_file.unlink(missing_ok=True)
    job = ListJob(str(data_dir.resolve()), runs, str(out.resolve()), str(counts_file.resolve()),
                  list_buckets(data_dir))
    runner = runners.run(CandidateLists(job, options), beam_args)
    if not counts_file.exists():
        raise RuntimeError(f"the {runner} run finished without writing {counts_file.name}; "
                           f"the lists in {out} are incomplete")
    stats = summarise(json.loads(counts_file.read_text()), options)
    counts_file.unlink()
    schema.Layout(out).stats.write_text(json.dumps(stats, indent=2) + "\n")
    logger.info("candidate lists written to %s: %s", out, stats["splits"])
    return stats
