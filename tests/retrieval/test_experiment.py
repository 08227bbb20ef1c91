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


def test_parse_method_accepts_markov_and_sasrec_and_names_the_bad_method():
    assert parse_method("markov") is None
    assert parse_method("sasrec") == ("sasrec", "none")
    with pytest.raises(ValueError, match=r"methods: unknown method 'banana'.*markov.*sasrec"):
        parse_method("banana")


def test_baseline_experiment_saves_ranks_and_a_paired_bootstrap(tiny_data, tmp_path):
    from funnel import ranks
    from retrieval.experiment import run_experiment

    report = run_experiment(tiny_data, ["most-popular", "markov"], 1, tmp_path / "report")
    users, values = ranks.load(tmp_path / "report" / "runs" / "markov" / "seed_0" / "test_ranks.npz", "ranks")
    assert len(users) == len(values) == 60
    results = report.results
    assert results["reference"] == "most-popular"                  # no sasrec: the first method
    markov = results["paired_bootstrap"]["markov"]
    assert markov["examples"] == 60
    summary = results["summary"]["markov"]
    assert markov["hr@10_full"]["second"] == pytest.approx(summary["hr@10_full"]["mean"])
    assert markov["hr@10_full"]["first"] == pytest.approx(results["summary"]["most-popular"]["hr@10_full"]["mean"])
    interval = markov["ndcg@10_full"]["difference"]
    assert interval["low"] <= interval["mean"] <= interval["high"]
    assert "Paired bootstrap against most-popular" in report.markdown
    assert report.markdown.index("hr@10_full") < report.markdown.index("hr@20")
    with pytest.raises(ValueError, match="reference: 'sasrec'"):
        run_experiment(tiny_data, ["most-popular"], 1, tmp_path / "other", reference="sasrec")


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


def test_a_run_saved_before_an_option_existed_loads_with_the_behaviour_it_was_trained_with(tmp_path):
    import json

    from funnel import config as config_lib
    from retrieval.config import SAVED_BEFORE_THE_OPTION, RetrievalConfig, load

    saved = config_lib.to_dict(RetrievalConfig())
    for key in SAVED_BEFORE_THE_OPTION:
        saved.pop(key)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    config = load(path)
    assert (config.recency, config.share_item_embedding, config.bucket_by_length) == ("none", False, False)
    assert RetrievalConfig().share_item_embedding is True          # today's default differs


@pytest.mark.parametrize("model,rows", [("mur", "examples"), ("sasrec", "sequences")])
def test_a_run_saved_before_train_on_existed_loads_with_the_rows_its_model_trained_on(model, rows, tmp_path):
    import json

    from funnel import config as config_lib
    from retrieval.config import RetrievalConfig, load

    saved = config_lib.to_dict(RetrievalConfig(model=model))
    saved.pop("train_on")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    assert load(path).train_on == rows


def test_a_tested_run_of_other_settings_is_trained_again(tmp_path, tiny_data, monkeypatch):
    import json

    from retrieval import experiment, train as train_module
    from retrieval.config import build

    settings = {"epochs": 1, "embedding_dim": 4, "item_hidden": (4,), "encoder_layers": 1,
                "encoder_heads": 1, "batch_size": 64, "verbose": 0}
    run_dir = experiment.run_folder(tmp_path, "sur", 0)
    experiment.run_method("sur", 0, tiny_data, tmp_path, settings)
    calls = []
    real_train = train_module.train
    monkeypatch.setattr(train_module, "train", lambda *a, **k: calls.append(a) or real_train(*a, **k))
    experiment.run_method("sur", 0, tiny_data, tmp_path, settings)                # same settings: reused
    assert calls == []
    experiment.run_method("sur", 0, tiny_data, tmp_path, {**settings, "recency": "none"})
    assert len(calls) == 1 and calls[0][0] == build({**settings, "recency": "none", "model": "sur",
                                                     "weighting": "none", "seed": 0})
    assert json.loads((run_dir / "config.json").read_text())["recency"] == "none"
