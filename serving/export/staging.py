"""One export version from staging to published: built aside, verified in a fresh process, renamed.

The exporter writes version ``v`` under ``EXPORT/.staging-<v>-<random>/`` in
the export's own layout (``<model>/<v>/``, ``manifests/<v>.json``), so
``python -m serving.export.verify`` checks the staging folder exactly as it would
check ``EXPORT``. Only when every check passes are the version folders renamed
into ``EXPORT`` (one ``rename`` each, atomic within a filesystem); the version
becomes visible to ``contract.resolve_version`` and the service last, when
the exporter writes ``EXPORT/manifests/<v>.json``. A failed verify, or any
other failure, removes the staging folder and whatever was already renamed, so
the previous version stays the newest.

An exporter killed outright (SIGKILL, the kernel's OOM killer, a lost machine)
cannot clean up, so each staging folder holds an exclusive ``flock`` on its
``.lock`` file for as long as its exporter lives; the kernel drops the lock
when the process dies, however it dies. The next export removes every staging
folder whose lock it can take (:func:`remove_abandoned`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from serving.contract import MANIFEST_DIR, complete_versions

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
LOCK_FILE = ".lock"
UNLOCKED_GRACE_SECONDS = 60.0
"""A staging folder without its lock file is left alone this long: its exporter
may be between creating the folder and locking it."""
FAILED_LINES = 20
"""At most this many ``FAIL`` lines of verify are quoted in the error."""


class VerificationFailedError(ValueError):
    """The staged version failed ``verify``; it was not published.

    Attributes:
        output: verify's whole stdout (every OK and FAIL line).
    """

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


class Staging:
    """Version ``version`` of ``root`` while it is built, verified and published."""

    def __init__(self, root: Path, version: int):
        self.root = root
        self.version = version
        self.dir = root / f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}"
        self.sources = self.dir / ".sources"
        self.published: list[Path] = []
        self._lock = None

    def start(self) -> None:
        """Create the staging folder and hold its lock until :meth:`cleanup`."""
        self.dir.mkdir(parents=True)
        self._lock = open(self.dir / LOCK_FILE, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def folder(self, name: str) -> Path:
        """Where model/folder ``name`` of this version is written: ``<staging>/<name>/<v>``."""
        return self.dir / name / str(self.version)

    def write_manifest(self, manifest: dict) -> None:
        path = self.dir / MANIFEST_DIR / f"{self.version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=2))

    def verify(self, tolerance: float) -> tuple[dict, str]:
        """Run ``verify`` on the staged version in a fresh process.

        Returns:
            ``(report, output)``: what verify measured (``failures``, ``checks``,
            the recall figures) and its printed checks.

        Raises:
            VerificationFailedError: any check failed, or verify crashed.
        """
        from serving.export.verify import verify_in_subprocess

        handle, report_path = tempfile.mkstemp(prefix="verify-", suffix=".json")
        os.close(handle)
        try:
            completed = verify_in_subprocess(self.dir, self.version, tolerance, report=report_path)
            text = Path(report_path).read_text()
            report = json.loads(text) if text.strip() else None
        finally:
            Path(report_path).unlink(missing_ok=True)
        if completed.returncode == 0 and report is not None and report["failures"] == 0:
            return report, completed.stdout
        failed = [line for line in completed.stdout.splitlines() if line.startswith("FAIL")]
        if not failed:
            failed = completed.stderr.strip().splitlines()[-5:] or [f"exit {completed.returncode}"]
        previous = [v for v in complete_versions(self.root) if v < self.version]
        raise VerificationFailedError(
            f"version {self.version} failed verification, not published "
            f"({'version ' + str(previous[-1]) if previous else 'no version'} stays the newest):\n  "
            + "\n  ".join(failed[:FAILED_LINES]), completed.stdout)

    def publish(self, names: tuple[str, ...]) -> None:
        """Rename each staged ``<name>/<v>`` into ``root``."""
        for name in names:
            target = self.root / name / str(self.version)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.folder(name), target)  # atomic within one filesystem
            self.published.append(target)

    def rollback(self) -> None:
        for path in self.published:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def remove_abandoned(root: Path) -> list[Path]:
    """Remove the staging folders of ``root`` whose exporter is gone; returns them.

    A folder is abandoned when its lock can be taken (its exporter died), or
    when it has no lock file and is older than :data:`UNLOCKED_GRACE_SECONDS`.
    A live export, in this process or another, keeps its lock and its folder.
    """
    removed = []
    for folder in sorted(root.glob(f"{STAGING_PREFIX}*")):
        if folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed %s, left by an export that did not finish", folder)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        handle = open(folder / LOCK_FILE, "r")
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > UNLOCKED_GRACE_SECONDS
        except FileNotFoundError:  # removed meanwhile by its own exporter
            return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

