"""``/healthz`` (process alive), ``/readyz`` (models loaded and warmed), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from serving import metrics
from serving.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def get_healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def get_readyz(service: ServiceDep):
    served = service.manager.current
    if served is None:
        return JSONResponse({"ready": False}, status_code=503)
    return {"ready": True, "version": str(served.version)}


@router.get("/metrics")
def get_metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type=metrics.CONTENT_TYPE)

