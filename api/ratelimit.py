"""Rate limits (the `limits` library, moving windows in memory or Redis) and their headers.

public: 100/min per IP on every REST route · trading: 10/min per wallet · auth: 5 per 15 min per IP
on sign-in attempts · subscribe: Socket.IO subscriptions per IP · connect: Socket.IO connections per IP.

While Redis cannot be reached, each replica counts in its own memory (limits still hold, per replica) and tries
Redis again after `RETRY_S`: a Redis outage neither opens the gate nor turns every request into an error.
"""

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from api.auth import CurrentWallet
from quantdesk.metrics import Metrics
from quantdesk.settings import Settings

RETRY_S = 5.0  # how long a replica counts in memory after Redis failed before trying it again
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rates:
    """How often each kind of caller may come, in the `limits` notation."""

    public: str = "100/minute"
    trading: str = "10/minute"
    auth: str = "5 per 15 minutes"
    subscribe: str = "60/minute"
    connect: str = "120/minute"  # a terminal connects once and again on signing in; many behind one NAT


@dataclass(frozen=True)
class Verdict:
    """The outcome of one hit: allowed or not, and the window's figures."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        """Return the X-RateLimit-* headers (reset as UTC epoch seconds) and, when refused, Retry-After."""
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                   "X-RateLimit-Reset": str(math.ceil(self.reset_at))}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after())
        return headers

    def retry_after(self) -> int:
        """Return the whole seconds until the window lets a hit through again."""
        return max(1, math.ceil(self.reset_at - time.time()))


class Limiter:
    """Count hits per kind of limit and caller, in Redis (keys under the app id) when configured and reachable, in
    this replica's memory otherwise, and the refusals per kind (`gateway_rate_limited_total`)."""

    def __init__(self, settings: Settings, rates: Rates, metrics: Metrics) -> None:
        self.metrics = metrics
        url, timeout = settings.redis_url, settings.redis_timeout_s
        self.pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout) \
            if url else None
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared = None if self.pool is None else MovingWindowRateLimiter(RedisStorage(
            f"async+{url}", implementation="redispy", key_prefix=f"{settings.app_id}:limits",
            connection_pool=self.pool, wrap_exceptions=True))
        self.shared_again = 0.0  # monotonic time from which Redis is tried again after a failure
        self.items: dict[str, RateLimitItem] = {kind: parse(rate) for kind, rate in asdict(rates).items()}

    async def hit(self, kind: str, caller: str) -> Verdict:
        """Count one hit of `caller` against the `kind` limit and return the verdict."""
        if self.shared is not None and time.monotonic() >= self.shared_again:
            try:
                verdict = await self.judge(self.shared, kind, caller)
            except StorageError as exc:
                if not self.shared_again:
                    log.warning("rate limits: Redis cannot be reached (%s); counting in memory", exc)
                self.shared_again = time.monotonic() + RETRY_S
            else:
                if self.shared_again:
                    log.warning("rate limits: Redis answers again; counting there")
                    self.shared_again = 0.0
                return verdict
        if self.shared is not None:
            self.metrics.inc("gateway_unreachable_total", part="redis")
        return await self.judge(self.local, kind, caller)

    async def judge(self, strategy: MovingWindowRateLimiter, kind: str, caller: str) -> Verdict:
        """Count the hit with `strategy` and return the verdict."""
        item = self.items[kind]
        allowed = await strategy.hit(item, kind, caller)
        if not allowed:
            self.metrics.inc("gateway_rate_limited_total", limit=kind)
        stats = await strategy.get_window_stats(item, kind, caller)
        return Verdict(allowed, item.amount, stats.remaining, stats.reset_time)

    async def close(self) -> None:
        """Release the storage's connections."""
        if self.pool is not None:
            await self.pool.disconnect()


def client_ip(request: Request) -> str:
    """Return the caller's IP as the server sees it."""
    return request.client.host if request.client else "unknown"


async def enforce(request: Request, response: Response, kind: str, caller: str) -> None:
    """Count a hit; refuse with 429 over the limit, else put the limit headers on the response (and its errors)."""
    verdict = await request.app.state.limiter.hit(kind, caller)
    if not verdict.allowed:
        raise HTTPException(429, f"rate limit reached: {verdict.limit} {kind} requests per window; "
                                 f"retry in {verdict.retry_after()} s", headers=verdict.headers())
    request.state.rate_limit_headers = verdict.headers()
    response.headers.update(request.state.rate_limit_headers)


async def public_limit(request: Request, response: Response) -> None:
    """Count a public request against its IP."""
    await enforce(request, response, "public", client_ip(request))


async def auth_limit(request: Request, response: Response) -> None:
    """Count a sign-in attempt against its IP."""
    await enforce(request, response, "auth", client_ip(request))


async def trading_wallet(request: Request, response: Response, wallet: CurrentWallet) -> str:
    """Return the signed-in wallet after counting a trading request against it."""
    await enforce(request, response, "trading", wallet)
    return wallet


PublicLimit = Depends(public_limit)
AuthLimit = Depends(auth_limit)
TradingWallet = Annotated[str, Depends(trading_wallet)]
