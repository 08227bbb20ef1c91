"""Staging folders left by exports that were killed are removed by the next export."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from serving.export import staging

REPO = Path(__file__).resolve().parents[2]


def test_a_live_export_keeps_its_staging_folder_and_a_finished_lock_frees_it(tmp_path):
    live = staging.Staging(tmp_path, 3)
    live.start()
    assert staging.remove_abandoned(tmp_path) == []
    assert live.dir.is_dir()
    live._lock.close()  # what the kernel does when the exporter dies
    assert staging.remove_abandoned(tmp_path) == [live.dir]
    assert not live.dir.exists()


def test_the_folder_of_an_exporter_killed_by_sigkill_is_removed(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from serving.export.staging import Staging
        s = Staging(Path({str(tmp_path)!r}), 7)
        s.start()
        print(s.dir, flush=True)
        time.sleep(600)
    """)
    exporter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    folder = Path(exporter.stdout.readline().strip())
    assert staging.remove_abandoned(tmp_path) == []  # alive: kept
    os.kill(exporter.pid, signal.SIGKILL)
    exporter.wait()
    assert staging.remove_abandoned(tmp_path) == [folder]
    assert not folder.exists()


def test_a_folder_without_lock_is_removed_only_once_it_is_old(tmp_path):
    young = tmp_path / f"{staging.STAGING_PREFIX}4-young"
    old = tmp_path / f"{staging.STAGING_PREFIX}4-old"
    young.mkdir()
    old.mkdir()
    past = time.time() - staging.UNLOCKED_GRACE_SECONDS - 5
    os.utime(old, (past, past))
    (tmp_path / "query" / "4").mkdir(parents=True)  # not a staging folder: never touched
    assert staging.remove_abandoned(tmp_path) == [old]
    assert young.is_dir() and (tmp_path / "query" / "4").is_dir()
