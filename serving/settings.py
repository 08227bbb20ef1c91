"""Typed settings of the recommend service (``funnel serve``).

One frozen dataclass, built by the CLI from its flags (or by tests directly),
that rejects unknown keys like every other funnel config. Request limits live
here too, so the API models, the body-size guard and the docs agree.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from funnel import config as funnel_config

MAX_HISTORY = 1000
"""Longest request history accepted; the query model reads its last
``schema.MAX_SEQUENCE_LENGTH`` known items."""
MAX_K = 1000
MAX_CANDIDATES = 1000
MAX_BODY_BYTES = 1 << 20
"""Request bodies above 1 MiB are refused with 413 before they are parsed."""
MAX_BATCH_REQUESTS = 256
"""Most users in one ``/v1/recommend:batch`` call."""
MAX_ID_CHARS = 256
"""Longest raw item or user id accepted."""
MAX_SEARCH_CHARS = 200
"""Longest ``GET /v1/items`` query."""
MAX_SEARCH_RESULTS = 100
"""Most items one ``GET /v1/items`` call lists."""
ORDERS = ("auto", "ranking", "retrieval")
"""``order``: ``auto`` follows the export's gate (``manifest.json`` ``gate.order``)."""


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """Everything ``create_app`` needs.

    The thread and batch defaults are the fastest measured on two cores
    (``docs/benchmarks.md``, "Serving").

    Attributes:
        export_dir: the ``funnel export --out`` folder (``EXPORT/<model>/<version>/``).
        backend: ``embedded`` (SavedModels and ScaNN in-process) or ``tfserving``.
        tfserving_url: base URL of TF Serving's REST API (``tfserving`` backend).
        admin_token: enables ``POST /admin/reload`` when set, and is required by it.
        host, port, workers: where uvicorn listens (port 0: a free one) and how many
            processes hold models.
        max_batch: most requests merged into one model call by the micro-batcher
            (1 turns micro-batching off).
        batch_threads: threads running model batches (each a micro-batch worker).
            Two keep both cores busy: one batch's Python steps overlap the
            other's TensorFlow and ScaNN calls.
        reload_interval_s: how often the export folder is polled for a new
            version (0 disables the watcher; ``/admin/reload`` still works).
        tf_intra_op_threads: TensorFlow threads inside one op; one answers a lone
            request sooner than TensorFlow's default pool on few cores.
        tf_inter_op_threads: each model session's pool of threads that run
            its ops. Two, as many as the default batch threads: with one, the
            two batch threads' graphs queue behind each other, and a wide
            pointwise ranker runs its two encoders at once. 0: no pool, a
            call's graph runs on the batch thread that makes it, which costs
            small models less CPU per request at the same latency but slows a
            wide ranker.
        tfserving_timeout_s: per-call timeout of the ``tfserving`` backend.
        order: ``auto`` (the export's gate: ranking order only where it beat
            retrieval order on validation users), ``ranking`` or ``retrieval``.
    """

    export_dir: str
    backend: str = "embedded"
    tfserving_url: str | None = None
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_batch: int = 32
    batch_threads: int = 2
    reload_interval_s: float = 5.0
    tf_intra_op_threads: int = 1
    tf_inter_op_threads: int = 2
    tfserving_timeout_s: float = 5.0
    order: str = "auto"

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"order: unknown value {self.order!r}; choose one of {list(ORDERS)}")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected an integer in [0, 65535] (0: a free port), got {self.port!r}")
        positive = {"workers": self.workers, "max_batch": self.max_batch,
                    "batch_threads": self.batch_threads,
                    "tf_intra_op_threads": self.tf_intra_op_threads}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not isinstance(self.tf_inter_op_threads, int) or self.tf_inter_op_threads < 0:
            raise ValueError(f"tf_inter_op_threads: expected an integer >= 0 (0: no pool), "
                             f"got {self.tf_inter_op_threads!r}")
        if self.reload_interval_s < 0:
            raise ValueError(f"reload_interval_s: expected >= 0, got {self.reload_interval_s!r}")
        if self.workers > 1 and self.reload_interval_s == 0:
            raise ValueError("reload_interval_s: must be > 0 with several workers: /admin/reload reaches "
                             "one worker, the others see a new version only by polling")
        if self.backend == "tfserving" and not self.tfserving_url:
            raise ValueError("tfserving_url: required with backend 'tfserving'")
        if self.admin_token is not None and len(self.admin_token) < 8:
            raise ValueError("admin_token: use at least 8 characters")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ServiceSettings":
        return funnel_config.from_dict(cls, values)

    @classmethod
    def from_json(cls, text: str) -> "ServiceSettings":
        return cls.from_mapping(json.loads(text))
