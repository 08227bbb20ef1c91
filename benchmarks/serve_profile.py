"""Where one recommend call spends its time: per step, for a batch of 1 and of 8.

Loads an export in-process with the service's own backend and engine (the
``embedded`` backend, default settings), then answers the same request bodies
``benchmarks/serve_load.py`` sends, timing each step of the path a request
takes through the service:

- ``parse``: the JSON body into a ``RecommendRequest`` (pydantic, as FastAPI does);
- the engine's steps, timed by wrapping the functions the engine calls
  (see :data:`STEPS`): id resolution, query model, ScaNN search, eq.-4
  merge, candidate features, ranking inputs, ranking model, answer;
- ``render``: the answer as the JSON response body.

A step is reported exclusive of the steps nested in it (the eq.-4 merge is
``retrieve`` minus ``search``); ``other`` is what the engine spent outside
every named step. Wrapping costs about a microsecond per timed call.

    python benchmarks/serve_profile.py --export EXPORT [--batches 1,8] [--calls 300]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_load  # noqa: E402  (same request bodies as the load benchmark)

Step = collections.namedtuple("Step", "label module owner attribute parent")
STEPS = (
    Step("resolve ids", "serving.engine", "Engine", "_resolve", None),
    Step("history matrix", "serving.engine", "Engine", "_history_matrix", None),
    Step("query model", None, "bundle", "query", None),
    Step("retrieve (eq.-4 merge)", "retrieval.candidates", None, "retrieve", None),
    Step("ScaNN search", None, "bundle", "search", "retrieve (eq.-4 merge)"),
    Step("candidate features", "retrieval.candidates", None, "candidate_features", None),
    Step("rank step (feature assembly)", "serving.engine", "Engine", "_rank", None),
    Step("request features", "serving.engine", "Engine", "_request_features", "rank step (feature assembly)"),
    Step("ranking model", None, "bundle", "rank", "rank step (feature assembly)"),
    Step("ranking input tensors", "serving.artifacts", None, "_tensors", "ranking model"),   # before session callables
    Step("ranking inputs", "serving.artifacts", None, "_inputs", "ranking model"),
    Step("answer", "serving.engine", "Engine", "_answer", None),
)
"""Functions timed, by where they live. A step whose function does not exist in
the code being profiled is left out, so the script profiles older versions too."""


class Clock:
    """Inclusive wall and CPU seconds per step label for the current call.

    CPU time (``time.process_time``: every thread of the process, TensorFlow's
    pools included) is what a step costs even when other jobs share the cores
    and stretch its wall time.
    """

    def __init__(self):
        self.spent = collections.defaultdict(float)
        self.cpu = collections.defaultdict(float)

    def clear(self):
        self.spent.clear()
        self.cpu.clear()

    def wrap(self, label: str, function):
        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[label] += time.perf_counter() - start
                self.cpu[label] += time.process_time() - cpu
        return timed


def instrument(clock: Clock, bundle):
    """Wrap every available step; returns the bundle with timed callables and the steps found."""
    import importlib

    found, replacements = [], {}
    for step in STEPS:
        if step.owner == "bundle":
            if hasattr(bundle, step.attribute):
                replacements[step.attribute] = clock.wrap(step.label, getattr(bundle, step.attribute))
                found.append(step)
            continue
        module = importlib.import_module(step.module)
        owner = getattr(module, step.owner) if step.owner else module
        if hasattr(owner, step.attribute):
            setattr(owner, step.attribute, clock.wrap(step.label, getattr(owner, step.attribute)))
            found.append(step)
    return dataclasses.replace(bundle, **replacements), found


def exclusive(spent: dict, steps) -> dict:
    """Inclusive times -> each step's time minus its nested steps'."""
    out = dict(spent)
    for step in steps:
        if step.parent is not None and step.parent in out:
            out[step.parent] -= spent.get(step.label, 0.0)
    return out


def profile(export: str, batches: list[int], calls: int, history: tuple[int, int], k: int,
            candidates: int) -> tuple:
    from serving.api import RecommendRequest, RecommendResponse
    from serving.backends.embedded import EmbeddedBackend
    from serving.engine import Engine
    from serving.routes.recommend import json_body
    from serving.settings import ServiceSettings

    backend = EmbeddedBackend(ServiceSettings(export_dir=export))
    backend.configure()
    clock = Clock()
    bundle, steps = instrument(clock, backend.load(backend.latest_version()))
    engine = Engine(bundle, warm_batch_sizes=batches)
    engine.warm()
    bodies = serve_load.recommend_bodies(serve_load.catalog_ids(export), 512, 0, history, k, candidates)
    labels = ["parse"] + [s.label for s in steps] + ["other (engine)", "render", "total"]
    samples = {size: collections.defaultdict(list) for size in batches}
    cpu_samples = {size: collections.defaultdict(list) for size in batches}
    info = {"items": len(bundle.item_ids), "candidate_features": bundle.candidate_features,
            "order": bundle.order}
    for size in batches:
        for call in range(calls + 5):
            batch = [bodies[(call * size + j) % len(bodies)] for j in range(size)]
            clock.clear()
            marks = [(time.perf_counter(), time.process_time())]
            requests = [RecommendRequest.model_validate_json(b) for b in batch]
            marks.append((time.perf_counter(), time.process_time()))
            answers, _ = engine.recommend(requests)
            marks.append((time.perf_counter(), time.process_time()))
            for answer in answers:
                json_body(RecommendResponse.timed(answer, 0.0))
            marks.append((time.perf_counter(), time.process_time()))
            if call < 5:  # warm-up calls, not recorded
                continue
            for kind, spent_by_step, out in ((0, clock.spent, samples), (1, clock.cpu, cpu_samples)):
                start, parsed, answered, end = (mark[kind] for mark in marks)
                spent = exclusive(spent_by_step, steps)
                named = sum(spent.get(s.label, 0.0) for s in steps)
                row = {"parse": parsed - start, **{s.label: spent.get(s.label, 0.0) for s in steps},
                       "other (engine)": answered - parsed - named, "render": end - answered,
                       "total": end - start}
                for label, seconds in row.items():
                    out[size][label].append(seconds * 1000.0)
    return labels, samples, cpu_samples, info


def table(labels, samples, cpu_samples, batches) -> str:
    """Mean wall and CPU milliseconds per call of each step, and its share of the CPU total."""
    head = "| step | " + " | ".join(f"batch {b}: wall ms | batch {b}: CPU ms | batch {b}: CPU share"
                                     for b in batches) + " |"
    lines = [head, "|---|" + "---:|---:|---:|" * len(batches)]
    for label in labels:
        cells = []
        for b in batches:
            cpu, total = statistics.fmean(cpu_samples[b][label]), statistics.fmean(cpu_samples[b]["total"])
            cells += [f"{statistics.fmean(samples[b][label]):.3f}", f"{cpu:.3f}",
                      "" if label == "total" else f"{cpu / total:.0%}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    medians = " | ".join(f"{statistics.median(samples[b]['total']):.3f} | {statistics.median(cpu_samples[b]['total']):.3f} | "
                         for b in batches)
    lines.append(f"| total, median | {medians}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="export folder (newest complete version)")
    parser.add_argument("--batches", default="1,8", help="batch sizes, e.g. 1,8")
    parser.add_argument("--calls", type=int, default=300, help="recorded calls per batch size")
    parser.add_argument("--k", type=int, default=10)
    serve_load.add_request_arguments(parser)
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)
    try:
        batches = [int(x) for x in args.batches.split(",")]
    except ValueError:
        parser.error(f"--batches: comma-separated integers expected, got {args.batches!r}")
    if not Path(args.export).is_dir():
        parser.error(f"--export: {args.export} is not a folder")
    labels, samples, cpu_samples, info = profile(args.export, batches, args.calls, args.history, args.k,
                                                 args.candidates)
    text = (f"Export {args.export}: {info['items']} items, candidate features "
            f"{'on' if info['candidate_features'] else 'off'}, order {info['order']}; history {args.history[0]}-{args.history[1]} items, "
            f"k={args.k}, candidates={args.candidates}; {args.calls} calls per batch size; "
            f"{serve_load.machine()}; load average {os.getloadavg()[0]:.2f}\n\n"
            + table(labels, samples, cpu_samples, batches))
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
