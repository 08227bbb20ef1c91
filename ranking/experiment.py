"""Paper-style ranking reports, each cell the mean and std over seeds.

``REPORTS``:

- ``table4`` (TF4CTR Table 4): AUC and gAUC of every registered model;
- ``table3`` (TF4CTR Table 3): the SSEM x DFM grid of TF4CTR (DNN backbone);
- ``table5`` (TF4CTR Table 5, compatibility): each backbone alone and wrapped
  by TF4CTR, with the AUC gain;
- ``lafam-table5`` (LAFAM Table 5): precision, accuracy and F1 of MLP (dnn),
  DCN (dcnv2) and LAFAM with focal, shrinkage and suppression losses at clicks
  to non-clicks 1:5, 1:10 and 1:20.

Every run is a normal run folder under ``OUT/runs/``; a cell whose folder
already holds metrics of the same config is reused, so an interrupted report
resumes, and reports sharing ``OUT`` share runs (``table5`` reuses ``table4``'s
baselines). Report ``NAME`` is written to ``OUT/NAME.md`` and ``OUT/NAME.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from funnel import config as funnel_config
from funnel import schema
from funnel.runs import RunLayout
from ranking import data, evaluate, run
from ranking.config import RankingConfig
from ranking.train import train

logger = logging.getLogger(__name__)

MODEL_ORDER = ("dnn", "dualmlp", "dcnv2", "deepfm", "eain", "lafam", "tf4ctr")
SSEM_ORDER = ("ser", "gm", "mmoe", "share")
DFM_ORDER = ("wsf", "vf", "cf", "moef", "sum")
COMPAT_BACKBONES = ("dnn", "dcnv2", "deepfm")
IMBALANCE_NETWORKS = (("MLP", "dnn"), ("DCN", "dcnv2"), ("LAFAM", "lafam"))
IMBALANCE_LOSSES = ("focal", "shrinkage", "suppression")
IMBALANCE_RATIOS = (5, 10, 20)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One configuration of a report, run once per seed."""

    key: str
    settings: tuple

    def config(self, seed: int, overrides) -> RankingConfig:
        values = dict(overrides)
        values.update(dict(self.settings))
        values["seed"] = seed
        return RankingConfig.from_dict(values)


def table4_cells():
    return [Cell(model, (("model", model),)) for model in MODEL_ORDER]


def table3_cells():
    return [Cell(f"{ssem}-{dfm}", (("model", "tf4ctr"), ("ssem", ssem), ("dfm", dfm)))
            for ssem in SSEM_ORDER for dfm in DFM_ORDER]


def table5_cells():
    cells = []
    for backbone in COMPAT_BACKBONES:
        cells.append(Cell(backbone, (("model", backbone),)))
        cells.append(Cell(f"tf4ctr-{backbone}", (("model", "tf4ctr"), ("backbone", backbone))))
    return cells


def lafam_table5_cells():
    return [Cell(f"{model}-{loss}-1to{ratio}",
                 (("model", model), ("loss", loss), ("negative_ratio", float(ratio))))
            for _, model in IMBALANCE_NETWORKS for loss in IMBALANCE_LOSSES for ratio in IMBALANCE_RATIOS]


def _fmt(values, scale: float = 100.0, digits: int = 2) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "n/a"
    return f"{scale * np.mean(values):.{digits}f} ± {scale * np.std(values):.{digits}f}"


def _metric(results, key, metric):
    return [run[metric] for run in results.get(key, [])]


def table4_text(results) -> str:
    lines = ["| Model | AUC (%) | gAUC (%) | logloss |", "|---|---|---|---|"]
    for model in MODEL_ORDER:
        lines.append(f"| {model} | {_fmt(_metric(results, model, 'auc'))} | "
                     f"{_fmt(_metric(results, model, 'gauc'))} | "
                     f"{_fmt(_metric(results, model, 'logloss'), 1.0, 4)} |")
    return "\n".join(lines)


def table3_text(results) -> str:
    header = "| SSEM \\ DFM | " + " | ".join(f"{d.upper()} AUC / gAUC" for d in DFM_ORDER) + " |"
    lines = [header, "|---" * (len(DFM_ORDER) + 1) + "|"]
    for ssem in SSEM_ORDER:
        cells = [f"{_fmt(_metric(results, f'{ssem}-{dfm}', 'auc'))} / "
                 f"{_fmt(_metric(results, f'{ssem}-{dfm}', 'gauc'))}" for dfm in DFM_ORDER]
        lines.append(f"| {ssem.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table5_text(results) -> str:
    lines = ["| Model | AUC (%) | gAUC (%) | ΔAUC (points) |", "|---|---|---|---|"]
    for backbone in COMPAT_BACKBONES:
        base = _metric(results, backbone, "auc")
        wrapped = _metric(results, f"tf4ctr-{backbone}", "auc")
        lines.append(f"| {backbone} | {_fmt(base)} | {_fmt(_metric(results, backbone, 'gauc'))} | - |")
        gain = f"{100 * (np.mean(wrapped) - np.mean(base)):+.2f}" if base and wrapped else "n/a"
        lines.append(f"| {backbone} + TF4CTR | {_fmt(wrapped)} | "
                     f"{_fmt(_metric(results, f'tf4ctr-{backbone}', 'gauc'))} | {gain} |")
    return "\n".join(lines)


def lafam_table5_text(results) -> str:
    """Classification at the validation's best-F1 threshold (LAFAM's classification stage),
    F1 at the fixed 0.5 threshold, then AUC; a first line gives the all-positive F1
    2/(R + 2) that a fixed-threshold F1 must beat (the paper's focal-loss F1s equal it)."""
    ratios = "/".join(f"1:{r}" for r in IMBALANCE_RATIOS)
    lines = [f"| {ratios} | Precision | Accuracy | F1 | F1@0.5 | AUC |", "|---|---|---|---|---|---|",
             "| all-positive reference, 2/(R+2) | - | - | "
             + " / ".join(f"{2 / (r + 2):.4f}" for r in IMBALANCE_RATIOS) + " | - | - |"]
    for label, model in IMBALANCE_NETWORKS:
        for loss in IMBALANCE_LOSSES:
            columns = []
            for metric in ("precision", "accuracy", "f1"):
                parts = [_fmt([run["tuned"][metric] for run in results.get(f"{model}-{loss}-1to{r}", [])],
                              1.0, 4) for r in IMBALANCE_RATIOS]
                columns.append(" / ".join(parts))
            for metric in ("f1", "auc"):  # the test metrics' f1 is at the fixed 0.5 threshold
                columns.append(" / ".join(_fmt(_metric(results, f"{model}-{loss}-1to{r}", metric), 1.0, 4)
                                          for r in IMBALANCE_RATIOS))
            lines.append(f"| {label}-{loss} | " + " | ".join(columns) + " |")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Report:
    title: str
    cells: Callable[[], list]
    render: Callable[[dict], str]


REPORTS = {
    "table4": Report("TF4CTR Table 4 style: models", table4_cells, table4_text),
    "table3": Report("TF4CTR Table 3 style: SSEM x DFM (TF4CTR, DNN backbone)", table3_cells, table3_text),
    "table5": Report("TF4CTR Table 5 style: compatibility", table5_cells, table5_text),
    "lafam-table5": Report("LAFAM Table 5 style: networks x losses x imbalance (mean ± std; "
                           "cells are 1:5 / 1:10 / 1:20)", lafam_table5_cells, lafam_table5_text),
}


def _reuse(run_dir: Path, config: RankingConfig, data_dir) -> Optional[dict]:
    """The metrics of an existing run of ``config``, back-filling ``test_tuned`` if missing."""
    layout = RunLayout(run_dir)
    metrics_path, saved = layout.metrics, layout.config
    if not (metrics_path.exists() and saved.exists() and funnel_config.saved_values(saved) == json.loads(
            json.dumps(config.to_dict()))):
        return None
    metrics = json.loads(metrics_path.read_text())
    if "test_tuned" not in metrics:
        model, _ = run.load_trained(run_dir)
        validation, _ = data.split_dataset(data_dir, schema.VALIDATION, config)
        test, _ = data.split_dataset(data_dir, schema.TEST, config)
        metrics["test_tuned"] = evaluate.tuned_test_classification(model, validation, test)
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def run_report(name: str, data_dir, out_dir, seeds: int = 3, overrides=None, verbose: int = 0,
               on_run: Optional[Callable[[str], None]] = None, existing_only: bool = False) -> str:
    """Train every cell of ``REPORTS[name]`` for seeds ``0..seeds-1``; return the markdown report.

    With ``existing_only`` nothing is trained: the report is rendered from the
    runs already in ``out_dir`` and missing cells read "n/a".
    """
    report = funnel_config.choice("report", name, REPORTS)
    if seeds < 1:
        raise ValueError(f"seeds: must be >= 1, got {seeds}")
    out_dir = Path(out_dir)
    results: dict[str, list] = {}
    for cell in report.cells():
        for seed in range(seeds):
            config = cell.config(seed, overrides or {})
            run_dir = out_dir / "runs" / f"{cell.key}-seed{seed}"
            metrics = _reuse(run_dir, config, data_dir)
            if metrics is None and existing_only:
                continue
            if metrics is None:
                logger.info("report %s: training %s seed %d", name, cell.key, seed)
                metrics = train(config, data_dir, run_dir, verbose=verbose,
                                overwrite=True)  # a stale or partial run of this cell
            results.setdefault(cell.key, []).append({**metrics["test"], "tuned": metrics["test_tuned"]})
            if on_run:
                on_run(f"{cell.key} seed {seed}")
    runs = sum(len(v) for v in results.values())
    text = (f"## {report.title}\n\n{seeds} seed(s), {runs} run(s); test split; mean ± std.\n\n"
            f"{report.render(results)}\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.md").write_text(text)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    return text
