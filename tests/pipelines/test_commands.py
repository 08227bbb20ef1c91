"""``funnel preprocess`` through the real CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from funnel import cli
from pipeline_fixtures import NOW, write_ml100k

RATINGS = ["1\t1\t5\t900000000", "1\t2\t3\t900000100", "1\t3\t4\t900000200", "1\tzz\t4\t900000300"]
USERS = {"1": (30, "M", "engineer", "12345")}
ITEMS = {str(k): (f"Movie {k}", "01-Jan-1990", ("Comedy",)) for k in range(1, 6)}


def test_preprocess_command_prints_a_summary_and_passes_beam_flags(tmp_path, capsys):
    folder = write_ml100k(tmp_path / "in", RATINGS, USERS, ITEMS)
    out = tmp_path / "out"
    code = cli.main(["preprocess", "--input", str(folder), "--format", "movielens-100k",
                     "--out", str(out), "--eval-negatives", "0", "--now", str(NOW),
                     "--num-shards", "1", "--runner=DirectRunner", "--direct_num_workers=1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "rows read" in printed and "unknown_item" in printed and str(out) in printed
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_read"] == 4 and stats["rows_deadlettered"] == {"unknown_item": 1}


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    code = cli.main(["preprocess", "--input", str(tmp_path / "missing"), "--format", "movielens-100k",
                     "--out", str(tmp_path / "out")])
    assert code == 2
    assert "--input" in (error := capsys.readouterr().err) and "no such file or folder" in error
    assert not (tmp_path / "out").exists()
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    folder = write_ml100k(tmp_path / "in", RATINGS, USERS, ITEMS)
    code = cli.main(["preprocess", "--input", str(folder), "--format", "movielens-100k",
                     "--out", str(tmp_path / "precious")])
    assert code == 2 and "refusing to replace" in capsys.readouterr().err
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_preprocess_with_no_surviving_row_fails_and_writes_nothing(tmp_path, capsys):
    folder = write_ml100k(tmp_path / "in", ["1\tzz\t4\t900000300", "1\tyy\t4\t900000400"], USERS, ITEMS)
    out = tmp_path / "out"
    code = cli.main(["preprocess", "--input", str(folder), "--format", "movielens-100k",
                     "--out", str(out), "--now", str(NOW), "--num-shards", "1", "--runner=local"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("funnel preprocess: error: no input row survived validation: 2 row(s) read, "
                   "2 dead-lettered (2 unknown_item); nothing written")
    assert not out.exists()


def test_preprocess_on_beam_does_not_show_the_apitools_warning(tmp_path):
    folder = write_ml100k(tmp_path / "in", RATINGS, USERS, ITEMS)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "funnel.cli", "preprocess", "--input", str(folder), "--format",
         "movielens-100k", "--out", str(tmp_path / "out"), "--eval-negatives", "0", "--now", str(NOW),
         "--num-shards", "1", "--runner=DirectRunner", "--direct_num_workers=1"],
        capture_output=True, text=True, cwd=root, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert "rows read" in done.stdout
    assert "apitools" not in done.stderr


def test_windows_and_popularity_flags_reach_the_pipeline(tmp_path):
    # user 1 rates items 1-6; user 2 (too few ratings for windows) rates 7 and 8, user 1's negatives
    ratings = ([f"1\t{k}\t4\t{900000000 + 100 * k}" for k in range(1, 7)]
               + ["2\t7\t4\t900000000", "2\t8\t4\t900000100"])
    items = {str(k): (f"Movie {k}", "01-Jan-1990", ("Comedy",)) for k in range(1, 10)}
    folder = write_ml100k(tmp_path / "in", ratings, {**USERS, "2": (40, "F", "artist", "54321")}, items)
    out = tmp_path / "out"
    code = cli.main(["preprocess", "--input", str(folder), "--format", "movielens-100k", "--out", str(out),
                     "--eval-negatives", "1", "--now", str(NOW), "--num-shards", "1", "--runner=local",
                     "--split", "windows", "--window-stride", "2", "--eval-negatives-sampling", "popularity"])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["split"], stats["window_stride"], stats["eval_negatives_sampling"]) == ("windows", 2, "popularity")
    # user 1: one window of six items: one training target (the 4th item), one validation, one test
    assert stats["examples"] == {"train": 1, "validation": 1, "test": 1}
    assert stats["users_too_short"] == 1
