"""Liveness of the gateway."""

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Say the gateway process is alive."""
    return {"status": "ok"}
