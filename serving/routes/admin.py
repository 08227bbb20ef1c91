"""``POST /admin/reload``: check the export for a new version now.

Mounted only when an admin token is configured; the token must be sent as
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from fastapi import APIRouter, Header, HTTPException
from starlette.concurrency import run_in_threadpool

from serving.deps import ServiceDep, is_admin

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/reload")
async def post_reload(service: ServiceDep, authorization: str | None = Header(default=None)) -> dict:
    """Load the newest version (retrying a refused one); answers what happened."""
    if not is_admin(service, authorization):
        raise HTTPException(status_code=401, detail="authorization: a valid 'Bearer <admin token>' is required")
    outcome = await run_in_threadpool(service.manager.check, True)
    served = service.manager.current
    return {"outcome": outcome, "version": str(served.version) if served else None,
            "refused": [str(r.version) for r in service.manager.refused]}
