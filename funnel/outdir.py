"""The output folder of a training run: never written beside what it already holds.

Both trainers call :func:`claim` before any work, so ``--out`` naming a folder
with files in it (an earlier run, or anything else) is an error at once, not a
run folder mixing two runs' files. ``--overwrite`` empties it first instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def claim(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Create ``out_dir`` empty for a new run and return it.

    Raises:
        NotADirectoryError: ``out_dir`` exists and is a file.
        FileExistsError: ``out_dir`` holds files and ``overwrite`` is False.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"--out {out} is not empty; refusing to write a run beside what it "
                                  "holds (pass --overwrite to replace it, or choose a new folder)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out
