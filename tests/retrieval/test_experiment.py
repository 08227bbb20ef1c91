"""Guards retrieval/experiment.py: method parsing, mean ± std, report and plots."""

import json

import numpy as np
import pytest

import funnel  # noqa: F401
from funnel import cli
from retrieval.experiment import parse_method, summarise


def test_parse_method_names_model_and_weighting():
    assert parse_method("mur-idw") == ("mur", "idw")
    assert parse_method("sur") == ("sur", "none")
    assert parse_method("mur-posthoc-item-norm") == ("mur", "posthoc-item-norm")
    assert parse_method("most-popular") is None
    with pytest.raises(ValueError, match="idw"):
        parse_method("mur-magic")


def test_summarise_uses_sample_std_and_skips_missing():
    summary = summarise([1.0, 3.0, None])
    assert summary == {"mean": 2.0, "std": pytest.approx(np.sqrt(2.0)), "n": 2}
    assert summarise([None])["mean"] is None


def test_experiment_cli_writes_report_json_and_plots(tiny_data, tmp_path, tiny_flags):
    out = tmp_path / "report"
    flags = tiny_flags[:-2] + ["--idw-max-rounds", "1", "--idw-wake-epochs", "1",
                               "--idw-calibration-epochs", "1"]  # without --keras-verbose 0
    assert cli.main(["experiment", "retrieval", "--data", str(tiny_data), "--methods",
                     "most-popular,sur,mur-idw", "--seeds", "2", "--out", str(out), *flags,
                     "--keras-verbose", "0"]) == 0
    results = json.loads((out / "report.json").read_text())
    summary = results["summary"]
    assert set(summary) == {"most-popular", "sur", "mur-idw"}
    assert summary["most-popular"]["hr@20"]["std"] == 0.0          # deterministic baseline
    assert summary["sur"]["hr@20"]["n"] == 2
    assert results["seeds"] == [0, 1]
    markdown = (out / "report.md").read_text()
    assert "| mur-idw |" in markdown and "+2.52%" in markdown
    assert (out / "ndcg_head_tail.png").stat().st_size > 0
    assert (out / "idw_rounds.png").stat().st_size > 0
    first = (out / "runs" / "sur" / "seed_0" / "test_metrics.json").stat().st_mtime
    cli.main(["experiment", "retrieval", "--data", str(tiny_data), "--methods", "sur", "--seeds", "1",
              "--out", str(out), *flags])
    assert (out / "runs" / "sur" / "seed_0" / "test_metrics.json").stat().st_mtime == first  # reused
    trained = (out / "runs" / "sur" / "seed_0" / "metrics.json").stat().st_mtime
    (out / "runs" / "sur" / "seed_0" / "test_metrics.json").unlink()
    cli.main(["experiment", "retrieval", "--data", str(tiny_data), "--methods", "sur", "--seeds", "1",
              "--out", str(out), *flags])
    assert (out / "runs" / "sur" / "seed_0" / "test_metrics.json").exists()
    assert (out / "runs" / "sur" / "seed_0" / "metrics.json").stat().st_mtime == trained  # not retrained
