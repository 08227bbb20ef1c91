"""The FastAPI app factory of the recommend service.

``create_app(settings)`` builds the app; nothing loads at import. The lifespan
handler configures the backend, loads and warms the newest export version
(startup fails, with the loader's message, if it cannot), starts the
micro-batcher and the reload watcher, and stops them on shutdown.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving import settings as limits
from serving.backends import Backend, make_backend
from serving.deps import Service
from serving.middleware import BodyLimit, RequestMetrics
from serving.routes import admin, health, items, models, page, recommend
from serving.settings import ServiceSettings

log = logging.getLogger(__name__)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _validation_message(errors) -> str:
    return "; ".join(f"{_field(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5])


async def _on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = error.errors()
    detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": e.get("type")}
              for e in errors]
    return JSONResponse({"error": _validation_message(errors), "detail": detail}, status_code=422)


async def _on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": str(error.detail)}, status_code=error.status_code,
                        headers=getattr(error, "headers", None))


@asynccontextmanager
async def _lifespan(app: FastAPI):
    service: Service = app.state.service
    await run_in_threadpool(service.start)
    served = service.manager.current
    log.info("ready: export version %s, backend %s", served.version, service.backend.name)
    try:
        yield
    finally:
        await run_in_threadpool(service.stop)


def create_app(settings: ServiceSettings, backend: Backend | None = None) -> FastAPI:
    """Build the service. ``backend`` defaults to ``settings.backend`` from the registry;
    tests inject their own."""
    service = Service(settings, backend or make_backend(settings))
    app = FastAPI(title="funnel recommend", version="1.0",
                  description="Retrieve-then-rank recommendations (multi-interest ScaNN retrieval, "
                              "CTR ranking).", lifespan=_lifespan)
    app.state.service = service
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for router in (recommend.router, models.router, items.router, health.router, page.router):
        app.include_router(router)
    if settings.admin_token:
        app.include_router(admin.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, max_bytes=limits.MAX_BODY_BYTES)
    app.add_middleware(RequestMetrics, metrics=service.metrics)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` worker processes (``funnel serve --workers N``):
    the CLI passes its settings as JSON in ``FUNNEL_SERVE_SETTINGS``."""
    import os
    return create_app(ServiceSettings.from_json(os.environ["FUNNEL_SERVE_SETTINGS"]))
