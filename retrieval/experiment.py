"""Multi-seed comparison of retrieval methods: a Table-1-style report with plots.

Methods are the baselines of ``retrieval.baselines.BASELINES`` (``most-popular``,
``markov``), any model of ``retrieval.config.MODELS`` (``sur``, ``mur``,
``sasrec``) and ``<model>-<weighting>`` for any key of
``retrieval.weighting.WEIGHTINGS`` (``mur-idw``, ``sur-idw``, ``mur-qmargin``,
...). Each method is trained and tested once per seed; the report leads with
full-catalog metrics (sampled ones flatter models), gives mean ± std over
seeds, a paired bootstrap of HR@10 / NDCG@10 (full catalog) of each method
against a reference method (:func:`funnel.ranks.compare_runs`: seeds paired by
index, test users by id), relative gains over SUR next to the IDW paper's
MovieLens-1M gains, and two figures:

- ``idw_rounds.png``: the item-embedding space (2-D PCA) at each IDW round,
  coloured by true cluster, with its mean-silhouette score (paper, Figure 4);
- ``ndcg_head_tail.png``: overall, head and tail NDCG@20 per method (Figure 5).

Each run folder keeps its test metrics (``runs/<method>/seed_<s>/test_metrics.json``)
and every test example's user id and 0-based full-catalog rank
(``test_ranks.npz``, :mod:`funnel.ranks`). Finished runs are reused, so an
interrupted experiment resumes where it stopped; a trained run without both
files is evaluated, not retrained.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from funnel import dataset
from funnel import ranks as ranks_lib
from funnel.runs import RunLayout
from retrieval.config import RetrievalConfig
from retrieval.config import build as build_config
from retrieval.config import load as load_config
from retrieval.names import parse_method

logger = logging.getLogger(__name__)

TABLE_METRICS = ("hr@10_full", "ndcg@10_full", "recall@100_full", "recall@200_full", "recall@20_full",
                 "ndcg@20_full", "recall@20_full_tail", "hr@20", "ndcg@20", "hr@5", "ndcg@5", "ndcg@20_head",
                 "ndcg@20_tail", "hr@20_tail", "hr@5_tail", "mean_silhouette")
TEST_METRICS = "test_metrics.json"
TEST_RANKS = "test_ranks.npz"
REFERENCE_DEFAULT = "sasrec"
"""The reference of the paired comparisons when it is among the methods (else the first method)."""
PAPER_ML1M_GAINS_OVER_SUR = {"hr@20": 2.52, "ndcg@20": 5.14}
"""MUR-IDW vs SUR on MovieLens-1M, % (Mehta et al. 2023, Table 1)."""
PAPER_ML1M_MUR_GAINS_OVER_SUR = {"hr@20": 0.25, "ndcg@20": 1.02}


@dataclasses.dataclass
class Report:
    markdown: str
    results: dict


def summarise(values: Sequence[float | None]) -> dict:
    """Mean, sample std (0 for one value) and count of the finite values."""
    finite = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"mean": None, "std": None, "n": 0}
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return {"mean": float(finite.mean()), "std": std, "n": int(finite.size)}


def run_method(method: str, seed: int, data_dir: Path, out_dir: Path, settings: dict) -> dict:
    """Train and test one method at one seed (or reuse a finished run); return its test metrics.

    ``settings``: the config values chosen for every method, on top of each model's own
    defaults (``retrieval.config.build``: SASRec keeps its settings unless told otherwise).

    Also writes the run's per-example test ranks (``TEST_RANKS``).
    """
    from retrieval.baselines import BASELINES
    from retrieval.evaluate import evaluate_examples, evaluate_run_examples

    run_dir = run_folder(out_dir, method, seed)
    parsed = parse_method(method)
    config = None if parsed is None else build_config(
        {**settings, "model": parsed[0], "weighting": parsed[1], "seed": seed})
    done = run_dir / TEST_METRICS
    tested = done.exists() and (run_dir / TEST_RANKS).exists()
    if tested and (config is None or _trained_with(run_dir, config)):
        return json.loads(done.read_text())   # a run of other settings (changed defaults) is redone
    run_dir.mkdir(parents=True, exist_ok=True)
    if parsed is None:
        evaluation = evaluate_examples(BASELINES[method](data_dir), data_dir)
        metrics = evaluation.metrics
    else:
        from retrieval.train import train

        if _trained_with(run_dir, config):
            training = json.loads(RunLayout(run_dir).metrics.read_text())
        else:
            training = train(config, data_dir, run_dir, overwrite=True)  # a stale or partial run
        evaluation = evaluate_run_examples(run_dir, data_dir)
        metrics = evaluation.metrics
        metrics["train_seconds"] = training["seconds"]
        metrics["train_epochs"] = training["epochs"]
    ranks_lib.save(run_dir / TEST_RANKS, evaluation.user_ids, ranks=evaluation.ranks)
    done.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def run_folder(out_dir: Path, method: str, seed: int) -> Path:
    return out_dir / "runs" / method / f"seed_{seed}"


def choose_reference(methods: Sequence[str], reference: str | None) -> str:
    """``reference`` if it is one of ``methods``; by default sasrec when present, else the first method."""
    if reference is None:
        return REFERENCE_DEFAULT if REFERENCE_DEFAULT in methods else methods[0]
    if reference not in methods:
        raise ValueError(f"reference: {reference!r} is not among the methods {list(methods)}")
    return reference


def paired_comparisons(out_dir: Path, methods: Sequence[str], seeds: Sequence[int], reference: str) -> dict:
    """Each method against ``reference`` on the test users (:func:`funnel.ranks.compare_runs`), with
    keys ``hr@10_full`` / ``ndcg@10_full`` (the ranks are full-catalog)."""
    runs = {method: [ranks_lib.load(run_folder(out_dir, method, seed) / TEST_RANKS, ranks_lib.RANKS)
                     for seed in seeds] for method in methods}
    comparisons = {}
    for method in methods:
        if method == reference:
            continue
        result = ranks_lib.compare_runs(runs[reference], runs[method])
        comparisons[method] = {f"{name}_full" if "@" in name else name: value for name, value in result.items()}
    return comparisons


def _trained_with(run_dir: Path, config: RetrievalConfig) -> bool:
    """A finished training run of exactly ``config`` is in ``run_dir`` (re-evaluate, don't retrain)."""
    layout = RunLayout(run_dir)
    if not (layout.config.exists() and layout.metrics.exists()):
        return False
    saved_config = load_config(layout.config)
    return dataclasses.replace(saved_config, verbose=config.verbose) == config  # verbosity is display only


def run_experiment(data_dir: str | Path, methods: Sequence[str], seeds: int, out_dir: str | Path,
                   settings: dict | None = None, first_seed: int = 0,
                   reference: str | None = None) -> Report:
    """Every method x seed, then the markdown/JSON report and the plots under ``out_dir``.

    ``settings``: config values applied to every method (``run_method``).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    settings = dict(settings or {})
    for method in methods:
        parse_method(method)
    if seeds < 1:
        raise ValueError(f"seeds: must be >= 1, got {seeds}")
    reference = choose_reference(methods, reference)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_seed: dict[str, list[dict]] = {}
    for method in methods:
        for seed in range(first_seed, first_seed + seeds):
            logger.info("experiment: %s seed %d", method, seed)
            per_seed.setdefault(method, []).append(run_method(method, seed, data_dir, out_dir, settings))
    summary = {method: {name: summarise([run.get(name) for run in runs])
                        for name in sorted({k for run in runs for k in run})}
               for method, runs in per_seed.items()}
    seed_list = list(range(first_seed, first_seed + seeds))
    results = {"data": str(data_dir), "seeds": seed_list,
               "settings": settings, "summary": summary, "per_seed": per_seed,
               "reference": reference,
               "paired_bootstrap": paired_comparisons(out_dir, methods, seed_list, reference),
               "gains_over_sur_percent": gains_over(summary, "sur"),
               "paper_ml1m_gains_over_sur_percent": {"mur-idw": PAPER_ML1M_GAINS_OVER_SUR,
                                                     "mur": PAPER_ML1M_MUR_GAINS_OVER_SUR}}
    figures = plot_all(out_dir, methods, summary)
    markdown = render_markdown(results, figures)
    (out_dir / "report.md").write_text(markdown)
    (out_dir / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    return Report(markdown, results)


def gains_over(summary: dict, reference: str) -> dict:
    """Relative change in % of each method's mean HR@20 / NDCG@20 over ``reference``'s."""
    if reference not in summary:
        return {}
    gains = {}
    for method, metrics in summary.items():
        gains[method] = {}
        for name in ("hr@20", "ndcg@20", "ndcg@20_tail", "recall@20_full"):
            base, value = summary[reference].get(name, {}).get("mean"), metrics.get(name, {}).get("mean")
            if base and value is not None:
                gains[method][name] = 100.0 * (value - base) / base
    return gains


def render_markdown(results: dict, figures: Sequence[str]) -> str:
    summary = results["summary"]
    present = [m for m in TABLE_METRICS if any(summary[x].get(m, {}).get("n") for x in summary)]
    lines = [f"# Retrieval experiment on `{results['data']}`", "",
             f"Seeds: {results['seeds']}. Mean ± std over seeds, in %, on the test split "
             "(sampled metrics: target + the pipeline's sampled negatives; `_full`: whole catalog).", "",
             "| method | " + " | ".join(present) + " |", "|---" * (len(present) + 1) + "|"]
    for method, metrics in summary.items():
        cells = []
        for name in present:
            entry = metrics.get(name, {})
            if entry.get("mean") is None:
                cells.append("–")
            elif name == "mean_silhouette":
                cells.append(f"{entry['mean']:.3f} ± {entry['std']:.3f}")
            else:
                cells.append(f"{100 * entry['mean']:.2f} ± {100 * entry['std']:.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += _paired_lines(results)
    gains = results["gains_over_sur_percent"]
    if gains:
        lines += ["", "Relative change over SUR (%), next to the paper's MovieLens-1M gains:", "",
                  "| method | HR@20 | NDCG@20 | NDCG@20 tail | paper HR@20 | paper NDCG@20 |",
                  "|---|---|---|---|---|---|"]
        paper = results["paper_ml1m_gains_over_sur_percent"]
        for method, values in gains.items():
            if method == "sur":
                continue
            reference = paper.get(method, {})
            lines.append(f"| {method} | {_pct(values.get('hr@20'))} | {_pct(values.get('ndcg@20'))} | "
                         f"{_pct(values.get('ndcg@20_tail'))} | {_pct(reference.get('hr@20'))} | "
                         f"{_pct(reference.get('ndcg@20'))} |")
    seconds = {m: summary[m].get("train_seconds", {}).get("mean") for m in summary}
    if any(v for v in seconds.values()):
        lines += ["", "Mean training time per run (s): " + ", ".join(
            f"{m} {v:.0f}" for m, v in seconds.items() if v)]
    for figure in figures:
        lines += ["", f"![{figure}]({figure})"]
    return "\n".join(lines) + "\n"


def _paired_lines(results: dict) -> list[str]:
    """The paired-bootstrap table: each method against the reference, full catalog."""
    comparisons = results.get("paired_bootstrap") or {}
    if not comparisons:
        return []
    reference = results["reference"]
    lines = ["", f"Paired bootstrap against {reference} (full catalog, the same test users, seeds paired "
             f"by index; {ranks_lib.BOOTSTRAP_SAMPLES} resamples of users; 95% interval of the difference "
             "in points):", "",
             f"| method | HR@10 {reference} | HR@10 method | gain | 95% CI | "
             f"NDCG@10 {reference} | NDCG@10 method | gain | 95% CI | users |", "|---" * 10 + "|"]
    for method, result in comparisons.items():
        cells = []
        for name in ("hr@10_full", "ndcg@10_full"):
            entry = result[name]
            interval = entry["difference"]
            cells += [f"{100 * entry['first']:.2f}", f"{100 * entry['second']:.2f}", _pct(entry["gain_percent"]),
                      f"{100 * interval['low']:+.2f} .. {100 * interval['high']:+.2f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {result['examples']} |")
    return lines


def _pct(value) -> str:
    return "–" if value is None else f"{value:+.2f}%"


def plot_all(out_dir: Path, methods: Sequence[str], summary: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    figures = []
    if plot_ndcg_head_tail(out_dir / "ndcg_head_tail.png", summary):
        figures.append("ndcg_head_tail.png")
    idw_methods = [m for m in methods if m.endswith("-idw")]
    if idw_methods:
        runs = sorted((out_dir / "runs" / idw_methods[0]).glob("seed_*"))
        if runs and plot_idw_rounds(out_dir / "idw_rounds.png", runs[0]):
            figures.append("idw_rounds.png")
    return figures


def plot_ndcg_head_tail(path: Path, summary: dict) -> bool:
    """Grouped bars: overall/head/tail NDCG@20 per method with std error bars (Figure 5)."""
    import matplotlib.pyplot as plt

    groups = (("overall", "ndcg@20"), ("head", "ndcg@20_head"), ("tail", "ndcg@20_tail"))
    methods = [m for m in summary if summary[m].get("ndcg@20", {}).get("mean") is not None]
    if not methods:
        return False
    figure, axis = plt.subplots(figsize=(max(6, 1.4 * len(methods)), 4))
    width = 0.8 / len(groups)
    x = np.arange(len(methods))
    for i, (label, key) in enumerate(groups):
        means = [100 * (summary[m].get(key, {}).get("mean") or 0) for m in methods]
        stds = [100 * (summary[m].get(key, {}).get("std") or 0) for m in methods]
        axis.bar(x + (i - 1) * width, means, width, yerr=stds, label=label, capsize=3)
    axis.set_xticks(x, methods, rotation=20)
    axis.set_ylabel("NDCG@20 (%)")
    axis.set_title("NDCG@20 on all, head and tail items")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def plot_idw_rounds(path: Path, run_dir: Path) -> bool:
    """Item embeddings (2-D PCA) at each IDW round, coloured by true cluster (Figure 4)."""
    import matplotlib.pyplot as plt

    from funnel.metrics import mean_silhouette
    from retrieval.run import IDW_EMBEDDINGS, item_clusters

    snapshots_file = run_dir / IDW_EMBEDDINGS
    if not snapshots_file.exists():
        return False
    snapshots = np.load(snapshots_file)
    names = sorted(snapshots.files, key=lambda n: int(n.rsplit("_", 1)[1]))
    clusters = item_clusters(RunLayout(run_dir).dataset)
    frequencies = dataset.item_frequencies(RunLayout(run_dir).dataset)
    real = frequencies > 0
    if clusters is not None:
        real &= clusters >= 0
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names):
        embeddings = snapshots[name][real]
        centred = embeddings - embeddings.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        points = centred @ components[:2].T
        colour = clusters[real] if clusters is not None else "tab:blue"
        axis.scatter(points[:, 0], points[:, 1], c=colour, s=6 + 60 * frequencies[real] / frequencies.max(),
                     cmap="tab10", alpha=0.8)
        title = f"round {name.rsplit('_', 1)[1]}"
        if clusters is not None:
            score = mean_silhouette(snapshots[name], clusters)
            title += f"\nMS = {score:.2f}" if score is not None else ""
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("Item embeddings across IDW rounds (PCA; colour = true cluster, size = frequency)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
