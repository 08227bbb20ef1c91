"""``GET /v1/items``: find catalog items by title or id (the demo page's search box)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving import settings
from serving.api import ErrorResponse, ItemsResponse
from serving.deps import ServiceDep

router = APIRouter(prefix="/v1", tags=["items"])


@router.get("/items", response_model=ItemsResponse,
            responses={422: {"model": ErrorResponse, "description": "invalid parameter (named in `error`)"}})
def search_items(
        service: ServiceDep,
        q: Annotated[str, Query(max_length=settings.MAX_SEARCH_CHARS,
                                description="case-insensitive part of a title or id; blank matches nothing")],
        limit: Annotated[int, Query(ge=1, le=settings.MAX_SEARCH_RESULTS, description="items listed")] = 20,
) -> ItemsResponse:
    """Items of the active version whose title or id contains ``q``."""
    found, matches = service.manager.current.engine.item_search.find(q, limit)
    return ItemsResponse(query=q, items=found, matches=matches)
