"""``GET /v1/models`` (loaded and refused versions) and ``GET /v1/samples`` (demo users)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api import LoadedVersion, ModelsResponse, RefusedVersion, SampleUser, SamplesResponse
from serving.deps import ServiceDep

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsResponse)
def get_models(service: ServiceDep) -> ModelsResponse:
    served = service.manager.current
    active = None
    if served is not None:
        active = LoadedVersion(version=served.version, model_versions=served.engine.model_versions,
                               loaded_at=served.loaded_at, warm_ms=served.warm_ms,
                               order=served.engine.bundle.order, manifest=served.manifest)
    refused = [RefusedVersion(version=r.version, error=r.error, at=r.at) for r in service.manager.refused]
    return ModelsResponse(backend=service.backend.name, ready=service.manager.ready, active=active,
                          refused=refused, reloading=service.manager.reloading)


@router.get("/samples", response_model=SamplesResponse)
def get_samples(service: ServiceDep) -> SamplesResponse:
    """Ready-made requests for the demo page."""
    bundle = service.manager.current.engine.bundle
    users = [SampleUser(user_id=s.user_id, label=s.label, history=list(s.history)) for s in bundle.samples]
    return SamplesResponse(users=users, has_titles=bundle.titles is not None)
