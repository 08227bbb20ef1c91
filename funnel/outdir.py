"""The output folder of a training run: never written beside what it already holds.

Both trainers call :func:`claim` before any work, so ``--out`` naming a folder
with files in it (an earlier run, or anything else) is an error at once, not a
run folder mixing two runs' files. ``--overwrite`` empties it first instead.
Both copy the data folder's small files into the run with
:func:`copy_dataset_files`, so a run loads from its own folder alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from funnel import schema
from funnel.runs import RunLayout


def claim(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Create ``out_dir`` empty for a new run and return it.

    Raises:
        NotADirectoryError: ``out_dir`` exists and is a file.
        FileExistsError: ``out_dir`` holds files and ``overwrite`` is False.
    """
    out = check(out_dir, overwrite)
    if out.is_dir() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def check(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuse ``out_dir`` as :func:`claim` would, creating nothing (the CLI checks it first).

    Raises:
        NotADirectoryError: ``out_dir`` exists and is a file.
        FileExistsError: ``out_dir`` holds files and ``overwrite`` is False.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {out} is not empty; refusing to write a run beside what it "
                              "holds (pass --overwrite to replace it, or choose a new folder)")
    return out


def copy_dataset_files(data_dir: str | Path, run_dir: str | Path) -> None:
    """Copy the feature map, stats, item and user tables and vocabularies into ``RUN/dataset``."""
    source, target = schema.Layout(data_dir), schema.Layout(RunLayout(run_dir).dataset)
    target.root.mkdir(parents=True, exist_ok=True)
    for path in (source.feature_map, source.stats, source.items, source.users):
        if path.exists():
            shutil.copy2(path, target.root / path.name)
    vocab = source.root / schema.Layout.VOCAB_DIR
    if vocab.is_dir():
        shutil.copytree(vocab, target.root / schema.Layout.VOCAB_DIR, dirs_exist_ok=True)
