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


NATIVE_LINES = (  # as TensorFlow 2.20 and ScaNN printed them during `funnel export`
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796532191.056858   14074 single_machine_factory_impl.h:178] Single-machine AH "
    b"training with dataset size = 60, 2 thread(s).\n",
    b"I0000 00:00:1796532222.411285   14074 mlir_graph_optimization_pass.cc:437] MLIR V1 optimization "
    b"pass is not enabled\n",
    b"2026-01-02 12:53:29.841447: I tensorflow/core/platform/cpu_feature_guard.cc:182] oneDNN ...\n",
)
KEPT_LINES = (
    b"E0000 00:00:1796532222.411285   14074 scann.cc:12] a native error\n",
    b"04:43:53 INFO serving.evaluation.gate: gate on 40 validation users\n",
    b"Traceback (most recent call last):\n",
)


def test_native_info_lines_match_errors_and_python_output_do_not():
    assert all(noise.NATIVE_NOISE.match(line) for line in NATIVE_LINES)
    assert not any(noise.NATIVE_NOISE.match(line) for line in KEPT_LINES)


@pytest.mark.parametrize("user_level", [None, "0"])
def test_the_stderr_filter_drops_native_info_lines_unless_the_user_chose_a_log_level(user_level):
    """Written straight to file descriptor 2, as C++ code writes them; the user's level shows all."""
    lines = NATIVE_LINES + KEPT_LINES
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if user_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user_level
    code = ("import os, sys\nfrom funnel import noise\nprint(noise.filter_native_logs())\n"
            f"for line in {lines!r}:\n    os.write(2, line)\n"
            "print('python stderr', file=sys.stderr)\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert completed.returncode == 0
    if user_level is None:
        assert completed.stdout == b"True\n"
        assert completed.stderr == b"".join(KEPT_LINES) + b"python stderr\n"
    else:
        assert completed.stdout == b"False\n"
        assert completed.stderr == b"".join(lines) + b"python stderr\n"
