"""``funnel preprocess``: plan, run the Beam pipeline on any runner, commit.

All IO decisions live here (Beam's example style): the reader plans shards and
reads the reference files in the driver, :class:`~pipelines.transforms.Preprocess`
does the work on the chosen runner into a staging folder, and only a complete
run is renamed to ``--out``. Unknown flags are Beam pipeline options, run by
:mod:`pipelines.runners` (``--runner=DaskRunner`` without a scheduler address
starts a local ``dask.distributed`` cluster for the run); ``--runner=local``
runs the same steps without Beam.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

from funnel import schema
from pipelines import io, runners, stages
from pipelines.readers import READERS
from pipelines.readers.base import DEFAULT_SHARD_BYTES, Plan
from pipelines.readers.events import parse_mapping
from pipelines.sequences import SequenceOptions

logger = logging.getLogger(__name__)

LOCAL_RUNNER = "local"
"""``--runner=local``: the same steps without Beam (:mod:`pipelines.local`)."""
DEFAULT_BUCKETS = 4
"""Fewest user buckets an automatic bucket count gives (parallelism on small inputs)."""
BUCKET_INPUT_BYTES = 8 << 20
"""Input bytes per user bucket when the count is automatic: about 350k events of a
CSV of ids and timestamps, so one bucket's rows and examples fit in a worker
many times over however large the input."""


@dataclasses.dataclass(frozen=True)
class PreprocessOptions:
    """What ``funnel preprocess`` was asked to do (flags minus Beam options)."""

    input: str
    format: str
    out: str
    min_count: int = 1
    max_len: int = schema.MAX_SEQUENCE_LENGTH
    eval_negatives: int = schema.EVAL_NEGATIVES
    seed: int = 0
    split_per_sequence: bool = False
    split: str = "user"
    window_stride: int = 5
    eval_negatives_sampling: str = "uniform"
    column_mapping: str = ""
    num_shards: int | None = None
    """User buckets; ``None``: :func:`buckets_for` the input's size."""
    shard_mb: float = DEFAULT_SHARD_BYTES / (1 << 20)
    now: int | None = None

    def __post_init__(self):
        if self.format not in READERS:
            raise ValueError(f"--format: unknown value {self.format!r}; choose one of {sorted(READERS)}")
        if self.num_shards is not None and self.num_shards < 1:
            raise ValueError(f"--num-shards must be >= 1, got {self.num_shards}")
        if self.shard_mb <= 0:
            raise ValueError(f"--shard-mb must be > 0, got {self.shard_mb}")
        if self.column_mapping and self.format != "events":
            raise ValueError("--column-mapping applies to --format events only")


@dataclasses.dataclass
class Result:
    out: Path
    stats: dict
    seconds: float
    runner: str


def require_rows(stats: dict) -> None:
    """Refuse an output in which no input row survived: an empty dataset is an error, not a result.

    Raises:
        ValueError: ``stats["rows_kept"]`` is 0; names the rows read and dead-lettered (by reason).
    """
    if stats["rows_kept"]:
        return
    dead = stats["rows_deadlettered"]
    reasons = ", ".join(f"{count} {reason}" for reason, count in dead.items())
    raise ValueError(f"no input row survived validation: {stats['rows_read']} row(s) read, "
                     f"{sum(dead.values())} dead-lettered" + (f" ({reasons})" if reasons else "")
                     + "; nothing written")


def buckets_for(input_bytes: int, bucket_bytes: int = BUCKET_INPUT_BYTES,
                minimum: int = DEFAULT_BUCKETS) -> int:
    """User buckets for an input of ``input_bytes``: one per ``bucket_bytes``, at least ``minimum``.

    The bucket is the unit of the group-by-user: a worker holds one bucket's
    rows and examples at a time, so the count grows with the input and no
    step of the pipeline holds every event at once (how a runner buffers its
    shuffle is the runner's: the FnApiRunner keeps it in the driver).
    """
    return max(minimum, -(-int(input_bytes) // bucket_bytes))


def input_bytes(plan: Plan) -> int:
    """Size in bytes of the interaction files the plan's shards read."""
    return sum(os.path.getsize(path) for path in {shard.path for shard in plan.shards})


def preprocess(options: PreprocessOptions, beam_args: Sequence[str] = ()) -> Result:
    """Run the pipeline and commit its output to ``options.out``."""
    from pipelines.transforms import Preprocess

    began = time.perf_counter()
    io.check_replaceable(options.out)
    sequences = SequenceOptions(options.max_len, options.eval_negatives, options.seed,
                                options.split_per_sequence, options.split, options.window_stride,
                                options.eval_negatives_sampling)
    reader = READERS[options.format](options.input, parse_mapping(options.column_mapping),
                                     shard_bytes=int(options.shard_mb * (1 << 20)))
    plan = reader.plan()
    logger.info("planned %d shard(s) of %s (%s), %d known users, %d known items",
                len(plan.shards), options.input, options.format, len(plan.catalog.users),
                len(plan.catalog.items))
    staging = io.staging_dir(options.out)
    now = options.now if options.now is not None else int(time.time())
    buckets = options.num_shards or buckets_for(input_bytes(plan), BUCKET_INPUT_BYTES)
    logger.info("%d user bucket(s)", buckets)
    context = stages.Context(reader, plan.catalog, stages.rules_for(plan.catalog, now), sequences,
                             str(staging), buckets, options.format)
    runner = runners.runner_of(beam_args)
    try:
        if runner == LOCAL_RUNNER:
            from pipelines.local import run_local

            run_local(context, plan, options.min_count)
        else:
            runners.run(Preprocess(context, plan, options.min_count), beam_args)
        stats_path = schema.Layout(staging).stats
        if not stats_path.exists():
            raise RuntimeError(f"the {runner} run finished without writing {stats_path.name}; "
                               f"output discarded")
        stats = json.loads(stats_path.read_text())
        require_rows(stats)
        io.commit(staging, options.out)
    except BaseException:
        io.discard(staging)
        raise
    seconds = time.perf_counter() - began
    logger.info("preprocess finished in %.1f s: %s", seconds, options.out)
    return Result(Path(options.out), stats, seconds, runner)
