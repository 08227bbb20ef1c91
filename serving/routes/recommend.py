"""``POST /v1/recommend`` and ``POST /v1/recommend:batch``.

Handlers only validate (pydantic, before they run) and hand requests to the
micro-batcher; model work happens on its threads, never on the event loop.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from pydantic import BaseModel

from serving.api import BatchRequest, BatchResponse, ErrorResponse, RecommendRequest, RecommendResponse
from serving.deps import ServiceDep

router = APIRouter(prefix="/v1", tags=["recommend"])
ERRORS = {413: {"model": ErrorResponse, "description": "body over 1 MiB"},
          422: {"model": ErrorResponse, "description": "invalid field (named in `error`)"}}


def json_body(response: BaseModel) -> Response:
    """``response`` as JSON, without the fields it left unset (``history`` and
    ``candidates`` outside ``explain``). Serialised by pydantic once: returning the
    model itself would make FastAPI dump, validate and dump it again."""
    return Response(response.model_dump_json(exclude_unset=True), media_type="application/json")


@router.post("/recommend", response_model=RecommendResponse, responses=ERRORS)
async def post_recommend(body: RecommendRequest, service: ServiceDep) -> Response:
    """Recommend ``k`` items for one user's history."""
    start = time.perf_counter()
    answer = await service.batcher.submit(body)
    return json_body(RecommendResponse.timed(answer, round((time.perf_counter() - start) * 1000.0, 3)))


@router.post("/recommend:batch", response_model=BatchResponse, responses=ERRORS)
async def post_recommend_batch(body: BatchRequest, service: ServiceDep) -> Response:
    """Recommend for many users at once; their requests share model batches."""
    start = time.perf_counter()
    answers = await service.batcher.submit_many(body.requests)
    took = round((time.perf_counter() - start) * 1000.0, 3)
    return json_body(BatchResponse(responses=[RecommendResponse.timed(a, took) for a in answers], took_ms=took))
