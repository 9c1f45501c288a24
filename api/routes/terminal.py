"""The terminal page at `/` and its built assets: a browser client of the same REST and Socket.IO API."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api import web

router = APIRouter(include_in_schema=False)
IMMUTABLE = "public, max-age=31536000, immutable"  # Vite names each asset by its content hash


@router.get("/")
async def terminal() -> FileResponse:
    """Serve the terminal page, with its security headers."""
    index = web.page()
    if index is None:
        raise HTTPException(404, web.NOT_BUILT)
    return FileResponse(index, headers={**web.PAGE_HEADERS, "Cache-Control": "no-cache"})


@router.get("/assets/{name}")
async def terminal_asset(name: str) -> FileResponse:
    """Serve one of the page's scripts or style sheets."""
    found = web.asset(name)
    if found is None:
        raise HTTPException(404, f"no asset {name}")
    return FileResponse(found, headers={**web.PAGE_HEADERS, "Cache-Control": IMMUTABLE})
