"""Status: how fresh every source of the live figures is (chain, oracle feeds, venues' books and prices)."""

from fastapi import APIRouter

from api.deps import LiveDep, SettingsDep
from api.errors import RESPONSES
from api.ratelimit import PublicLimit
from api.status import Status, status, wall_ms

router = APIRouter(prefix="/api/v1", tags=["status"], dependencies=[PublicLimit])


@router.get("/status", response_model=Status, responses={429: RESPONSES[429]})
async def get_status(settings: SettingsDep, live: LiveDep) -> Status:
    """Return every source's last slot or event time, its age by the wall clock, and whether it is healthy: the
    chain (once fills carry slots), each market's oracle feed (its last market state; a degraded market is
    unhealthy), each venue's book of each market (stale or crossed is unhealthy) and each venue's prices. A source
    older than `QUANTDESK_STATUS_MAX_AGE_MS` is unhealthy. The `status` Socket.IO channel pushes changes of health.
    """
    return status(live, wall_ms(), settings.status_max_age_ms)
