"""The HTTP floor of ``serve_load.py``: one empty endpoint under the service's uvicorn setup.

``GET /ping`` answers pre-encoded ``{}``, so what it measures is uvicorn
(uvloop, httptools, the same worker count) and FastAPI routing, nothing of the
models; ``serve_load.py`` starts it beside ``funnel serve`` and reports the
recommend endpoint's share of it.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ping")
async def get_ping() -> Response:
    return Response(b"{}", media_type="application/json")
