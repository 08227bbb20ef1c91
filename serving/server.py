"""Run the service under uvicorn (``funnel serve``).

uvloop and httptools are chosen explicitly: with stock ``uvicorn --workers 2``
the socket handed to worker processes lacks TCP_NODELAY (uvicorn's tracker,
#3149), which delays every response (docs/benchmarks.md, "Serving"); uvloop's
transports avoid it. With ``workers > 1`` each worker process builds its
own app (and holds its own copy of the models) from the settings passed in
``FUNNEL_SERVE_SETTINGS``, and their metrics meet in a shared folder
(``serving.metrics``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from serving import metrics
from serving.settings import ServiceSettings

log = logging.getLogger(__name__)
SETTINGS_ENV = "FUNNEL_SERVE_SETTINGS"


def uvicorn_options(settings: ServiceSettings) -> dict:
    return {"host": settings.host, "port": settings.port, "loop": "uvloop", "http": "httptools",
            "access_log": False, "log_level": "info", "timeout_keep_alive": 30,
            "lifespan": "on"}


def run(settings: ServiceSettings) -> None:
    """Serve until interrupted; returns when uvicorn stops."""
    import uvicorn

    if settings.workers == 1:
        from serving.app import create_app
        uvicorn.run(create_app(settings), **uvicorn_options(settings))
        return
    os.environ[SETTINGS_ENV] = settings.to_json()
    metrics_dir = share_metrics()
    try:
        uvicorn.run("serving.app:app_from_environment", factory=True, workers=settings.workers,
                    **uvicorn_options(settings))
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def share_metrics() -> str:
    """A fresh folder for the workers' Prometheus values, named in the environment they inherit."""
    folder = tempfile.mkdtemp(prefix="funnel-metrics-")
    os.environ[metrics.MULTIPROCESS_ENV] = folder
    return folder
