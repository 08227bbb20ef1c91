"""Where a served model's time goes, layer by layer: an op-level trace of each signature call.

Loads an export with the service's own backend and engine (``embedded``,
default settings), answers one micro-batch of the request bodies
``benchmarks/serve_load.py`` sends, keeps the arrays the engine fed each
signature (the query model's history, the ranking ``candidates`` inputs), then
reruns each call through its session with a full trace and sums the ops' own
times by the layer that owns them (the first ``--depth`` parts of the op's
name below the model's call). ``benchmarks/serve_profile.py`` says which step
of a request costs; this says which layer of a model does.

    python benchmarks/model_ops.py --export EXPORT [--batch 8] [--runs 20] [--top 12]

Op times are the executor's per-op spans, so they add up to more than the
call's wall time when two inter-op threads run ops at once.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_load  # noqa: E402  (same request bodies as the load benchmark)
from funnel import schema  # noqa: E402


def captured_calls(export: str, batch: int, candidates: int) -> dict:
    """``{(model, signature): (session model, inputs)}`` of one micro-batch of ``batch`` requests."""
    from serving import signature_runner
    from serving.api import RecommendRequest
    from serving.backends.embedded import EmbeddedBackend
    from serving.engine import Engine
    from serving.settings import ServiceSettings

    calls = {}
    plain = signature_runner.SessionModel.signature

    def recording(model, name):
        call = plain(model, name)

        def record(**arrays):
            calls[(model.path.parent.name, name)] = (model, arrays)
            return call(**arrays)
        return record

    signature_runner.SessionModel.signature = recording
    try:
        backend = EmbeddedBackend(ServiceSettings(export_dir=export))
        backend.configure()
        engine = Engine(backend.load(backend.latest_version()), warm_batch_sizes=[batch])
    finally:
        signature_runner.SessionModel.signature = plain
    bodies = serve_load.recommend_bodies(serve_load.catalog_ids(export), batch, 0, (5, 30), 10, candidates)
    calls.clear()  # keep the measured batch's inputs, not the warm-up's
    engine.recommend([RecommendRequest.model_validate_json(body) for body in bodies[:batch]])
    return calls


def layer_of(node_name: str, depth: int) -> str:
    """The op's owner: ``depth`` name parts after the function-call prefixes TensorFlow adds."""
    parts = [p for p in node_name.split("/") if not p.startswith("StatefulPartitionedCall")]
    return "/".join(parts[:depth]) or node_name


def trace(model, signature: str, arrays: dict, runs: int, depth: int) -> tuple[float, collections.Counter]:
    """Mean wall ms of the call, and mean op microseconds per layer."""
    import tensorflow as tf

    definition = model._definitions[signature]
    fetches = [definition.outputs[key].name for key in sorted(definition.outputs)]
    feed = {definition.inputs[key].name: value for key, value in arrays.items()}
    session = model._session
    for _ in range(5):
        session.run(fetches, feed)
    start = time.perf_counter()
    for _ in range(runs):
        session.run(fetches, feed)
    wall_ms = (time.perf_counter() - start) / runs * 1e3
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    layers = collections.Counter()
    for _ in range(runs):
        metadata = tf.compat.v1.RunMetadata()
        session.run(fetches, feed, options=options, run_metadata=metadata)
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                layers[layer_of(node.node_name, depth)] += (
                    node.op_end_rel_micros - node.op_start_rel_micros) / runs
    return wall_ms, layers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="export folder (newest complete version)")
    parser.add_argument("--batch", type=int, default=8, help="requests in the micro-batch")
    parser.add_argument("--candidates", type=int, default=schema.DEFAULT_LIST_CANDIDATES)
    parser.add_argument("--runs", type=int, default=20, help="traced calls per signature")
    parser.add_argument("--depth", type=int, default=2, help="name parts that identify a layer")
    parser.add_argument("--top", type=int, default=12, help="layers listed per signature")
    args = parser.parse_args(argv)
    if not Path(args.export).is_dir():
        parser.error(f"--export: {args.export} is not a folder")
    if args.batch < 1 or args.runs < 1:
        parser.error(f"--batch and --runs must be >= 1, got {args.batch}, {args.runs}")
    print(f"Export {args.export}, a micro-batch of {args.batch} requests, {args.candidates} candidates "
          f"each; {serve_load.machine()}; load average {os.getloadavg()[0]:.2f}\n")
    for (model_name, signature), (model, arrays) in sorted(captured_calls(
            args.export, args.batch, args.candidates).items()):
        wall_ms, layers = trace(model, signature, arrays, args.runs, args.depth)
        total = sum(layers.values())
        shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in sorted(arrays.items()) if getattr(v, "ndim", 0) > 1
                           or k == "owner")
        print(f"**{model_name} / {signature}**: {wall_ms:.2f} ms a call, {total / 1e3:.2f} ms of op time"
              f"{' (' + shapes + ')' if shapes else ''}\n")
        print("| layer | op ms | share |\n|---|---:|---:|")
        for layer, micros in layers.most_common(args.top):
            print(f"| {layer} | {micros / 1e3:.3f} | {micros / total:.0%} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
