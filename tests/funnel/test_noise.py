"""Guards funnel/noise.py: the cuInit line and Beam's apitools warning are gone,
real errors and warnings are not."""

import subprocess
import sys
from pathlib import Path

import pytest

from funnel import noise

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.skipif(noise.has_gpu_device(), reason="the cuInit line only appears without a GPU")
def test_tensorflow_without_gpu_prints_no_cuinit_line_but_raises_real_errors():
    completed = run_python(
        "import funnel, tensorflow as tf\n"
        "tf.constant(1.0)\n"
        "tf.reshape(tf.constant([1, 2, 3]), [2, 2])\n")
    assert completed.returncode == 1
    assert "cuInit" not in completed.stderr
    assert "InvalidArgumentError" in completed.stderr and "Input to reshape" in completed.stderr


def test_beam_apitools_warning_is_dropped_other_warnings_pass():
    completed = run_python(
        "import logging, funnel\n"
        "logging.basicConfig(format='%(levelname)s %(name)s: %(message)s')\n"
        "import apache_beam.io.gcp.internal.clients.bigquery\n"
        "logging.warning('apitools is fine, this is a real warning')\n"
        "logging.getLogger('beam').warning('apitools not found (another logger)')\n")
    assert completed.returncode == 0, completed.stderr
    assert "apitools not found, and bigquery" not in completed.stderr
    assert "WARNING root: apitools is fine, this is a real warning" in completed.stderr
    assert "WARNING beam: apitools not found (another logger)" in completed.stderr


def test_a_log_level_set_by_the_user_wins():
    completed = run_python("import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'\nimport funnel\n"
                           "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    assert completed.stdout.strip() == "0"
