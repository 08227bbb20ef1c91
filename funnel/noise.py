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
"""

from __future__ import annotations

import logging
import os
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


def install() -> None:
    """Set TensorFlow's C++ log threshold (unless the user did) and filter the root logger once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL",
                          TF_ERRORS_ONLY if has_gpu_device() else TF_FATAL_ONLY)
    root = logging.getLogger()
    if not any(isinstance(f, DropKnownNoise) for f in root.filters):
        root.addFilter(DropKnownNoise())
