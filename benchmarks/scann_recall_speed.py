"""ScaNN vs brute force on synthetic catalogs: recall@100 and latency per query.

Builds the index exactly as ``funnel export`` does (``retrieval.index.build_checked``
with the catalog-size rules) and times, on one thread of this machine:

- a single query (``search``, one interest vector),
- one batched call of M = 5 interest vectors (what the service issues per request),

against exact brute force in NumPy (matrix product + ``argpartition``).

``--grid`` instead builds one tree per scoring (AH with 2 or 1 dimensions per
4-bit code, int8 brute force within leaves) and sweeps the leaves searched and
the candidates reordered at query time, one JSON line per setting: where an
index's recall is capped by the partitions (int8 scoring shows the cap) and
what each setting costs (docs/benchmarks.md, "Scale").

Run: ``.venv/bin/python benchmarks/scann_recall_speed.py [--items 10000 100000] [--dim 32] [--grid]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from retrieval import index  # noqa: E402


def catalog(kind: str, num_items: int, dim: int, num_queries: int, seed: int):
    """Item embeddings [N, D] and queries [Q, D].

    ``clustered``: 100 interest centres with unit-variance noise around them
    (roughly how trained item embeddings group by interest); ``isotropic``:
    plain Gaussian vectors, the worst case for partitioning.
    """
    rng = np.random.default_rng(seed)
    if kind == "isotropic":
        return (rng.normal(size=(num_items, dim)).astype(np.float32),
                rng.normal(size=(num_queries, dim)).astype(np.float32))
    centres = 2.0 * rng.normal(size=(100, dim))
    items = centres[rng.integers(0, 100, num_items)] + rng.normal(size=(num_items, dim))
    queries = centres[rng.integers(0, 100, num_queries)] + rng.normal(size=(num_queries, dim))
    return items.astype(np.float32), queries.astype(np.float32)


def per_call_ms(fn, calls) -> float:
    fn(calls[0])
    start = time.perf_counter()
    for call in calls:
        fn(call)
    return (time.perf_counter() - start) / len(calls) * 1e3


def brute_force(items, k):
    def run(queries):
        scores = queries @ items.T
        return np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return run


def measure(kind: str, num_items: int, dim: int, k: int, interests: int, seed: int) -> dict:
    items, queries = catalog(kind, num_items, dim, 1_000, seed)
    held_out, test = queries[:500], queries[500:]
    start = time.perf_counter()
    try:
        searcher, report = index.build_checked(items, held_out, k=k, min_recall=0.95)
    except index.RecallTooLowError as error:
        return {"catalog": kind, "items": num_items, "error": str(error)}
    build_s = time.perf_counter() - start
    loaded = index.ScannIndex(searcher, np.arange(num_items).astype(str), items, report.params)
    exact_rows, _ = index.exact_top_k(test, items, k)
    recall = index.recall_at_k(loaded.search(test, k)[0], exact_rows)
    singles = [test[i:i + 1] for i in range(300)]
    batches = [test[i:i + interests] for i in range(0, 300, interests)]
    scann_single = per_call_ms(lambda q: loaded.search(q, k), singles)
    scann_batch = per_call_ms(lambda q: loaded.search(q, k), batches)
    bf = brute_force(items, k)
    bf_single = per_call_ms(bf, singles)
    bf_batch = per_call_ms(bf, batches)
    return {
        "catalog": kind, "items": num_items, "dim": dim, "k": k,
        "params": report.params.to_dict(),
        "widenings": len(report.attempts) - 1,  # searches tried after the first, half steps included
        "build_s": round(build_s, 2), "recall_held_out": round(report.recall, 4),
        "recall_test": round(recall, 4),
        "scann_ms_1": round(scann_single, 4), "bruteforce_ms_1": round(bf_single, 4),
        "speedup_1": round(bf_single / scann_single, 2),
        f"scann_ms_{interests}": round(scann_batch, 4),
        f"bruteforce_ms_{interests}": round(bf_batch, 4),
        f"speedup_{interests}": round(bf_batch / scann_batch, 2),
    }


GRID_SCORING = {"ah2": {"dimensions_per_block": 2}, "ah1": {"dimensions_per_block": 1}, "int8": None}
GRID_SEARCHED = (0.05, 0.1, 0.2, 0.3, 0.4)
"""Fractions of the leaves searched."""
GRID_REORDER = (500, 1_000, 2_000, 4_000)


def grid(kind: str, num_items: int, dim: int, k: int, seed: int, leaves: int):
    """Yield recall@k and single-query latency for every scoring x searched x reorder setting."""
    from scann import scann_ops_pybind

    items, queries = catalog(kind, num_items, dim, 1_000, seed)
    test = queries[500:]
    exact, _ = index.exact_top_k(test, items, k)
    singles = [test[i:i + 1] for i in range(300)]
    bruteforce_ms = per_call_ms(brute_force(items, k), singles)
    for scoring, ah in GRID_SCORING.items():
        builder = scann_ops_pybind.builder(items, k, "dot_product").tree(
            num_leaves=leaves, num_leaves_to_search=leaves // 10, training_sample_size=100_000)
        builder = (builder.score_ah(ah["dimensions_per_block"], anisotropic_quantization_threshold=0.2,
                                    training_sample_size=100_000)
                   if ah else builder.score_brute_force(True))
        searcher = builder.reorder(max(GRID_REORDER)).build()
        for fraction in GRID_SEARCHED:
            searched = max(1, int(round(leaves * fraction)))
            for reorder in GRID_REORDER:
                def search(q):
                    return searcher.search_batched(q, k, reorder, searched)
                rows = np.concatenate([search(q)[0] for q in np.split(test, 10)])
                scann_ms = per_call_ms(search, singles)
                yield {"catalog": kind, "items": num_items, "scoring": scoring, "leaves": leaves,
                       "leaves_searched": searched, "reorder": reorder,
                       "recall": round(index.recall_at_k(rows, exact), 4),
                       "scann_ms_1": round(scann_ms, 4), "bruteforce_ms_1": round(bruteforce_ms, 4),
                       "speedup_1": round(bruteforce_ms / scann_ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--interests", type=int, default=5)
    parser.add_argument("--catalogs", nargs="+", default=["clustered", "isotropic"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="sweep scorings and search settings instead")
    parser.add_argument("--leaves", type=int, default=None,
                        help="leaves of the grid's trees (default: the export's rule for the catalog)")
    args = parser.parse_args()
    for kind in args.catalogs:
        for num_items in args.items:
            if args.grid:
                leaves = args.leaves or index.params_for_catalog(num_items, args.k).num_leaves
                for row in grid(kind, num_items, args.dim, args.k, args.seed, leaves):
                    print(json.dumps(row), flush=True)
            else:
                print(json.dumps(measure(kind, num_items, args.dim, args.k, args.interests, args.seed)),
                      flush=True)


if __name__ == "__main__":
    main()
