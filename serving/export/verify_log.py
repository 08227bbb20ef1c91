"""Verify's output kept beside the export (``EXPORT/verify/<v>.log``) and summarised for the terminal."""

from __future__ import annotations

from pathlib import Path

from serving.contract import verify_log


def write_verify_log(export_dir: str | Path, version: int, output: str) -> Path:
    path = verify_log(export_dir, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(output)
    return path


def verify_summary(output: str) -> tuple[int, list[str]]:
    """``(checks passed, the FAIL lines)`` of verify's output (its lines start ``OK`` or ``FAIL``)."""
    lines = output.splitlines()
    return sum(line.startswith("OK") for line in lines), [line for line in lines if line.startswith("FAIL")]
