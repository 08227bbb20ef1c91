"""The demo page at ``/`` (static HTML and JavaScript calling the API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
def get_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
