"""Run a Beam transform on the runner the command line names: funnel's Beam jobs share this.

Unknown flags of ``funnel preprocess`` and ``funnel candidates`` are Beam
pipeline options (``--runner``, ``--direct_num_workers``,
``--direct_running_mode``, ``--dask_client_address``, ...). :func:`run` resolves
the runner's short name, runs the DirectRunner as the FnApiRunner it stands for,
and starts a local ``dask.distributed`` cluster for ``--runner=DaskRunner``
when no scheduler address is given.

A transform meant for the DaskRunner of Beam 2.77 must live with its limits
(:mod:`pipelines.transforms` names them): reads from ``Create`` + ``ParDo``,
outputs written by its own DoFns (:mod:`pipelines.io`), no tagged outputs, no
side inputs, one last transform that depends on every branch, and no metrics
on the pipeline result.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Sequence

logger = logging.getLogger(__name__)

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
RUNNER_ALIASES = {"DaskRunner": DASK_RUNNER}
"""Beam does not know the DaskRunner by its short name."""
FN_API_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
"""What ``DirectRunner`` (the default) runs on; see :func:`direct_engine`."""


def runner_of(beam_args: Sequence[str]) -> str:
    """The runner ``beam_args`` ask for (``DirectRunner`` when none), aliases resolved."""
    runner = "DirectRunner"
    for i, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
    return RUNNER_ALIASES.get(runner, runner)


def normalise_beam_args(beam_args: Sequence[str]) -> list[str]:
    """``beam_args`` with the runner as one ``--runner=<full name>`` flag."""
    args, skip = [], False
    for i, arg in enumerate(beam_args):
        if skip:
            skip = False
            continue
        if arg == "--runner" and i + 1 < len(beam_args):
            args.append(f"--runner={RUNNER_ALIASES.get(beam_args[i + 1], beam_args[i + 1])}")
            skip = True
        elif arg.startswith("--runner="):
            name = arg.split("=", 1)[1]
            args.append(f"--runner={RUNNER_ALIASES.get(name, name)}")
        else:
            args.append(arg)
    return args


def flag_value(args: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def direct_engine(beam_args: list[str], runner: str) -> list[str]:
    """``DirectRunner`` -> the ``FnApiRunner`` it runs batch pipelines on, named outright.

    Beam 2.77's DirectRunner first tries Prism: every run downloads a binary
    from GitHub (a network call; a stall where outbound traffic is dropped; an
    empty ``beam-temp*`` folder left in the temp dir when it fails) and, where
    the download works, runs on an engine this project does not test. The
    FnApiRunner is what it falls back to; it honours ``--direct_num_workers``
    and ``--direct_running_mode``. ``--runner=PrismRunner`` still asks for Prism.
    """
    if runner != "DirectRunner":
        return beam_args
    return [arg for arg in beam_args if not arg.startswith("--runner=")] + [f"--runner={FN_API_RUNNER}"]


@contextlib.contextmanager
def dask_cluster(beam_args: list[str]):
    """Yield Beam args with a Dask scheduler: the given one or a local cluster."""
    if flag_value(beam_args, "--dask_client_address") or flag_value(beam_args, "--dask_scheduler_file"):
        yield beam_args
        return
    from distributed import LocalCluster

    workers = int(flag_value(beam_args, "--direct_num_workers") or os.cpu_count() or 2)
    logger.info("starting a local dask.distributed cluster with %d worker processes", workers)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        args = [*beam_args, f"--dask_client_address={cluster.scheduler_address}"]
        if not (flag_value(args, "--dask_npartitions") or flag_value(args, "--dask_partition_size")):
            args.append(f"--dask_npartitions={max(2, workers)}")
        yield args


def _run_beam(transform, beam_args: list[str]) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    _ = pipeline | transform
    result = pipeline.run()
    try:
        state = result.wait_until_finish()
    finally:
        client = getattr(result, "client", None)  # DaskRunnerResult keeps its client open
        if client is not None:
            client.close()
    if state not in (None, "DONE") and "DONE" not in str(state):
        raise RuntimeError(f"pipeline ended in state {state}")


def run(transform, beam_args: Sequence[str] = ()) -> str:
    """Apply ``transform`` to a new pipeline's root and run it to the end on the runner ``beam_args`` name.

    Returns:
        The runner's full name.

    Raises:
        RuntimeError: the pipeline ended in a state other than ``DONE``.
    """
    args = normalise_beam_args(beam_args)
    runner = runner_of(args)
    if runner == DASK_RUNNER:
        with dask_cluster(args) as dask_args:
            _run_beam(transform, dask_args)
    else:
        _run_beam(transform, direct_engine(args, runner))
    return runner
