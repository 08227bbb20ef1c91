"""``funnel.outdir.claim``: a run never writes beside what its --out already holds."""

from __future__ import annotations

import pytest

from funnel import outdir


def test_a_missing_or_empty_folder_is_claimed(tmp_path):
    assert outdir.claim(tmp_path / "new" / "run").is_dir()
    (tmp_path / "empty").mkdir()
    assert outdir.claim(tmp_path / "empty") == tmp_path / "empty"


def test_a_folder_with_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not empty.*--overwrite"):
        outdir.claim(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_overwrite_empties_the_folder_first(tmp_path):
    (tmp_path / "run" / "logs").mkdir(parents=True)
    (tmp_path / "run" / "metrics.json").write_text("{}")
    out = outdir.claim(tmp_path / "run", overwrite=True)
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_file_is_not_a_run_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        outdir.claim(tmp_path / "file", overwrite=True)
