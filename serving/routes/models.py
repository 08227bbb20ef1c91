"""``GET /v1/models`` (loaded and refused versions) and ``GET /v1/samples`` (demo users)."""

from __future__ import annotations

from fastapi import APIRouter, Header

from serving.api import LoadedVersion, ModelsResponse, RefusedVersion, SampleUser, SamplesResponse
from serving.deps import ServiceDep, is_admin

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsResponse)
def get_models(service: ServiceDep, authorization: str | None = Header(default=None)) -> ModelsResponse:
    """What a client needs of the active version; its whole manifest (server paths, training
    options) only for the admin token."""
    served = service.manager.current
    active = None
    if served is not None:
        bundle = served.engine.bundle
        manifest = dict(bundle.manifest)
        active = LoadedVersion(version=str(served.version), model_versions=served.engine.model_versions,
                               loaded_at=served.loaded_at, warm_ms=served.warm_ms,
                               order=bundle.order, created=manifest.get("created"),
                               catalog=dict(manifest.get("catalog", {})),
                               schema_fingerprint=manifest.get("schema", {}).get("fingerprint"),
                               gate=manifest.get("gate"),
                               manifest=manifest if is_admin(service, authorization) else None)
    refused = [RefusedVersion(version=str(r.version), error=r.error, at=r.at) for r in service.manager.refused]
    return ModelsResponse(backend=service.backend.name, ready=service.manager.ready, active=active,
                          refused=refused, reloading=service.manager.reloading)


@router.get("/samples", response_model=SamplesResponse)
def get_samples(service: ServiceDep) -> SamplesResponse:
    """Ready-made requests for the demo page."""
    bundle = service.manager.current.engine.bundle
    users = [SampleUser(user_id=s.user_id, label=s.label, history=list(s.history)) for s in bundle.samples]
    return SamplesResponse(users=users, has_titles=bundle.titles is not None)
