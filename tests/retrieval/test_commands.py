"""``funnel train retrieval`` refuses bad output folders and empty splits before it trains."""

from __future__ import annotations

import shutil

from funnel import cli, schema


def test_train_refuses_a_non_empty_out_without_overwrite(tiny_data, tmp_path, capsys, tiny_flags):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = cli.main(["train", "retrieval", "--data", str(tiny_data), "--out", str(out), *tiny_flags])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"funnel train: error: --out {out} is not empty") and len(err.splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_an_earlier_run(tiny_data, tmp_path, tiny_flags):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.json").write_text("{}")
    assert cli.main(["train", "retrieval", "--data", str(tiny_data), "--out", str(out), "--model", "sur",
                     "--overwrite", *tiny_flags]) == 0
    assert (out / "config.json").exists() and not (out / "stale.json").exists()


def test_train_refuses_a_split_without_examples(tiny_data, tmp_path, capsys, tiny_flags):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    for path in schema.Layout(data).retrieval_files(schema.TRAIN):
        path.write_bytes(b"")
    out = tmp_path / "run"
    code = cli.main(["train", "retrieval", "--data", str(data), "--out", str(out), *tiny_flags])
    assert code == 2
    assert "the train split has no retrieval examples" in capsys.readouterr().err
    assert not out.exists()
