"""Microseconds per ``tf.train.Example``: the protobuf API against :mod:`funnel.tfrecord`.

For each record type funnel writes (retrieval training and evaluation
examples, ranking examples, candidate lists of ``--candidates``), random
examples of that spec are encoded

* through the protobuf API, one ``example_pb2.Example`` at a time, as the
  writers once did (``SerializeToString``),
* with ``ExampleEncoder.encode`` on batches of ``--batch`` (bytes per example),
* with ``ExampleEncoder.encode_records`` (the content of a TFRecord file,
  CRCs included: what the pipeline writes),

and the best of ``--repeats`` runs is printed as a Markdown table. Example::

    .venv/bin/python benchmarks/example_encoding.py --examples 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from funnel import schema, tfrecord  # noqa: E402


def record_types(candidates: int) -> dict[str, dict]:
    return {"retrieval train": schema.retrieval_example_spec(schema.TRAIN),
            "retrieval test (99 negatives)": schema.retrieval_example_spec(schema.TEST),
            "ranking": schema.ranking_example_spec(),
            f"candidate list ({candidates})": schema.candidate_list_spec(candidates)}


def random_columns(spec: dict, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    columns = {}
    for name, (dtype, shape) in spec.items():
        size = (count, *shape)
        columns[name] = (rng.random(size, dtype=np.float32) if dtype == "float32"
                         else rng.integers(0, 5000, size, dtype=np.int64))
    return columns


def protobuf_encode(columns: dict[str, np.ndarray], floats: set[str]) -> list[bytes]:
    from tensorflow.core.example import example_pb2

    count = len(next(iter(columns.values())))
    rows = {name: column.tolist() for name, column in columns.items()}
    out = []
    for i in range(count):
        example = example_pb2.Example()
        for name, values in rows.items():
            value = values[i] if isinstance(values[i], list) else [values[i]]
            feature = example.features.feature[name]
            (feature.float_list if name in floats else feature.int64_list).value.extend(value)
        out.append(example.SerializeToString())
    return out


def best_of(repeats: int, run) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=4096, help="examples per encoder call")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from tensorflow.core.example import example_pb2  # noqa: F401  (imported before any timer)

    rng = np.random.default_rng(0)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}; {args.examples} examples, "
          f"batches of {args.batch}, best of {args.repeats}\n")
    print("| record | features | protobuf us/example | encode us/example | encode_records us/example | speed-up |")
    print("|---|---|---|---|---|---|")
    for label, spec in record_types(args.candidates).items():
        columns = random_columns(spec, args.examples, rng)
        floats = {name for name, (dtype, _) in spec.items() if dtype == "float32"}
        encoder = tfrecord.ExampleEncoder([n for n in spec if n not in floats], sorted(floats))
        batches = [{name: column[i:i + args.batch] for name, column in columns.items()}
                   for i in range(0, args.examples, args.batch)]
        per = 1e6 / args.examples
        proto = best_of(args.repeats, lambda: protobuf_encode(columns, floats)) * per
        fast = best_of(args.repeats, lambda: [encoder.encode(b) for b in batches]) * per
        framed = best_of(args.repeats, lambda: [encoder.encode_records(b) for b in batches]) * per
        print(f"| {label} | {len(spec)} | {proto:.1f} | {fast:.1f} | {framed:.1f} | {proto / framed:.1f}x |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
