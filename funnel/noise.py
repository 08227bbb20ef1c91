"""Silence the two messages every run printed that are not errors, and nothing else.

- ``E ... failed call to cuInit: ... UNKNOWN ERROR (303)``: TensorFlow's C++
  log line when its CUDA build finds no GPU. TensorFlow has no per-message
  filter for C++ logs, so on a machine without an NVIDIA device node its C++
  log threshold is raised to FATAL; errors TensorFlow raises (every failed op,
  every bad input) still reach the user as Python exceptions. With a GPU the
  threshold stays at ERROR, and ``TF_CPP_MIN_LOG_LEVEL`` set by the user wins.
- ``WARNING root: apitools not found``: Apache Beam logs it on the root logger
  when its BigQuery client is imported without the GCP extras, which funnel
  never uses. A root-logger filter drops exactly that record; every other
  warning passes.

:func:`install` runs from ``funnel/__init__.py``, before TensorFlow or Beam is
first imported.

Some C++ code logs through absl, which reads no threshold from the environment:
TensorFlow's ``MLIR V1 optimization pass is not enabled`` and ScaNN's index
training lines, each after ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``. The ``funnel``
command (not the library) filters them with :func:`filter_native_logs`: its
stderr file descriptor goes through a pipe that drops native INFO and WARNING
lines and passes everything else (Python's output, tracebacks, native errors).
A user who sets ``TF_CPP_MIN_LOG_LEVEL`` sees every line.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
from pathlib import Path

GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")
"""Device nodes present when a GPU is usable (``/dev/dxg``: WSL 2)."""
TF_ERRORS_ONLY, TF_FATAL_ONLY = "2", "3"
DROPPED_RECORDS = (("root", "apitools not found"),)
"""(logger name, message prefix) of the log records that are never shown."""


def has_gpu_device(nodes: tuple[str, ...] = GPU_DEVICE_NODES) -> bool:
    return any(Path(node).exists() for node in nodes)


class DropKnownNoise(logging.Filter):
    """Drops the records of :data:`DROPPED_RECORDS`, passes all others."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(record.name == name and str(record.msg).startswith(prefix)
                       for name, prefix in DROPPED_RECORDS)


NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./+-]+:\d+\] "  # absl: I0000 00:00:1796532191.05  14074 f.cc:58]
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] [\w./+-]+:\d+\] )")  # TensorFlow's own format
"""A native INFO or WARNING line (absl's or TensorFlow's format); E and F lines never match."""
_USER_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ
"""Whether the user chose TensorFlow's C++ log level (then every native line is shown)."""


def filter_native_logs() -> bool:
    """Route this process's stderr (fd 2) through a thread that drops :data:`NATIVE_NOISE` lines.

    For the ``funnel`` command only: it replaces file descriptor 2 of the whole
    process. Returns whether the filter was installed (not when the user set
    ``TF_CPP_MIN_LOG_LEVEL``). At exit fd 2 is restored and the thread drains the pipe.
    """
    if _USER_LOG_LEVEL:
        return False
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                if not NATIVE_NOISE.match(line):
                    os.write(terminal, line)

    thread = threading.Thread(target=pump, name="funnel-stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last write end here: the pump reads to its end
        thread.join(timeout=5)

    atexit.register(restore)
    return True


def install() -> None:
    """Set TensorFlow's C++ log threshold (unless the user did) and filter the root logger once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL",
                          TF_ERRORS_ONLY if has_gpu_device() else TF_FATAL_ONLY)
    root = logging.getLogger()
    if not any(isinstance(f, DropKnownNoise) for f in root.filters):
        root.addFilter(DropKnownNoise())
