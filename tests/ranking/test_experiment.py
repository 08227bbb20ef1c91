"""Paper-style reports: cells, rendering, and a tiny end-to-end compatibility table."""

import json

from ranking import experiment


def test_reports_cover_the_papers_grids():
    assert len(experiment.table3_cells()) == 4 * 5  # SSEM x DFM
    assert {c.key for c in experiment.table5_cells()} == {
        "dnn", "dcnv2", "deepfm", "tf4ctr-dnn", "tf4ctr-dcnv2", "tf4ctr-deepfm"}
    keys = {c.key for c in experiment.lafam_table5_cells()}
    assert "lafam-suppression-1to20" in keys and "dnn-focal-1to5" in keys and len(keys) == 27
    config = experiment.lafam_table5_cells()[0].config(2, {"epochs": 3})
    assert config.seed == 2 and config.epochs == 3 and config.negative_ratio == 5.0


def test_table5_text_reports_the_auc_gain():
    results = {"dnn": [{"auc": 0.70, "gauc": 0.6}, {"auc": 0.72, "gauc": 0.6}],
               "tf4ctr-dnn": [{"auc": 0.74, "gauc": 0.6}, {"auc": 0.74, "gauc": 0.6}]}
    text = experiment.table5_text(results)
    assert "| dnn | 71.00 ± 1.00 |" in text
    assert "| dnn + TF4CTR | 74.00 ± 0.00 | 60.00 ± 0.00 | +3.00 |" in text


def test_table5_end_to_end_and_resume_through_the_command(tiny_data, tmp_path, capsys):
    """The report trains every cell once; `funnel experiment ranking` with the same flags then
    reuses every run (nothing retrained) and prints the same report."""
    from funnel import cli

    overrides = {"epochs": 1, "embedding_dim": 4, "hidden_units": [8], "simple_hidden_units": [8],
                 "batch_size": 256, "cross_layers": 1}
    text = experiment.run_report("table5", tiny_data, tmp_path, seeds=1, overrides=overrides)
    assert "deepfm + TF4CTR" in text and (tmp_path / "table5.md").read_text() == text
    results = json.loads((tmp_path / "table5.json").read_text())
    assert set(results) == {c.key for c in experiment.table5_cells()}
    trained = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/metrics.json")}
    assert len(trained) == 6
    flags = ["experiment", "ranking", "--data", str(tiny_data), "--seeds", "1", "--out", str(tmp_path),
             "--epochs", "1", "--set", "embedding_dim=4", "--set", "hidden_units=[8]",
             "--set", "simple_hidden_units=[8]", "--set", "batch_size=256", "--set", "cross_layers=1"]
    capsys.readouterr()
    assert cli.main([*flags, "--report", "table5"]) == 0
    assert capsys.readouterr().out.strip() == text.strip()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/metrics.json")} == trained
    assert cli.main([*flags, "--report", "table4", "--existing-only"]) == 0
    partial = capsys.readouterr().out
    assert "| dnn |" in partial and "| eain | n/a |" in partial  # rendered without training


def test_lafam_table5_text_reports_f1_at_half_and_the_all_positive_reference():
    run = {"f1": 0.0, "auc": 0.7, "tuned": {"precision": 0.3, "accuracy": 0.8, "f1": 0.35}}
    results = {f"{m}-{l}-1to{r}": [run] for _, m in experiment.IMBALANCE_NETWORKS
               for l in experiment.IMBALANCE_LOSSES for r in experiment.IMBALANCE_RATIOS}
    text = experiment.lafam_table5_text(results)
    assert "| all-positive reference, 2/(R+2) | - | - | 0.2857 / 0.1667 / 0.0909 | - | - |" in text
    assert "F1@0.5" in text and "0.0000 ± 0.0000 / 0.0000 ± 0.0000" in text
