"""Several Solana JSON-RPC endpoints behind one call: fail over on errors or lag, and measure each.

Endpoints are tried in the configured order, skipping one that failed within the cool-down or
whose slot is more than `rpc_max_lag_slots` behind the best; when every endpoint is out, all are
tried anyway. Each request's latency and outcome go to the metrics under the endpoint's URL. An
answer is read up to `ANSWER_BYTES`: a longer one fails its request, unread past the bound.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, AsyncIterator, TypeVar

import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.jsonrpc import JsonRpcRequest, SolanaJsonRpcError
from solders.errors import SerdeJSONError

from streams.sources.ingest.metrics import Metrics
from quantdesk.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
ANSWER_BYTES = 16 << 20  # getSignaturesForAddress' 1,000 entries are ~300 KB, a transaction a few KB

# transport and HTTP errors arrive wrapped in SolanaRpcException; answers that do not parse are errors too
RPC_ERRORS = (SolanaRpcException, RPCException, SolanaJsonRpcError, SerdeJSONError, TimeoutError, ValueError)


class RpcUnavailable(RuntimeError):
    """No endpoint answered a request."""


class AnswerTooLarge(httpx2.DecodingError):
    """An endpoint's answer past the bound (not a transport error: the provider does not send it again)."""


class BoundedBody(httpx2.AsyncByteStream):
    """An answer's body, read up to `most` bytes."""

    def __init__(self, body: httpx2.AsyncByteStream, most: int, request: httpx2.Request) -> None:
        self.body, self.most, self.request = body, most, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the body's chunks until they pass the bound."""
        read = 0
        async for chunk in self.body:
            read += len(chunk)
            if read > self.most:
                raise AnswerTooLarge(f"an answer over {self.most} bytes", request=self.request)
            yield chunk

    async def aclose(self) -> None:
        """Close the connection's body."""
        await self.body.aclose()


class BoundedTransport(httpx2.AsyncBaseTransport):
    """HTTP whose answers are read up to `most` bytes each (httpx reads any length)."""

    def __init__(self, most: int) -> None:
        self.inner, self.most = httpx2.AsyncHTTPTransport(http2=True), most

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send the request; return its answer with a bounded body."""
        response = await self.inner.handle_async_request(request)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                               stream=BoundedBody(response.stream, self.most, request))

    async def aclose(self) -> None:
        """Close the connections."""
        await self.inner.aclose()


def bounded_client(url: str, settings: Settings, most: int) -> AsyncClient:
    """Return solana-py's client of `url`, its answers read up to `most` bytes."""
    client = AsyncClient(url, commitment=settings.commitment, timeout=settings.rpc_timeout_s)
    # solana-py takes no transport, so its provider's session is made again with one
    client._provider.session = httpx2.AsyncClient(transport=BoundedTransport(most),
                                                  timeout=httpx2.Timeout(settings.rpc_timeout_s))
    return client


@dataclass
class Endpoint:
    """One JSON-RPC endpoint, its client and what was last learnt about it."""

    url: str
    client: AsyncClient
    slot: int = 0
    failed_at: float = float("-inf")


class RpcPool:
    """The configured endpoints, used best first."""

    def __init__(self, settings: Settings, metrics: Metrics, answer_bytes: int = ANSWER_BYTES) -> None:
        if not settings.solana_rpc_urls:
            raise ValueError("no Solana RPC endpoint configured (QUANTDESK_SOLANA_RPC_URLS)")
        self.settings, self.metrics = settings, metrics
        self.endpoints = [Endpoint(url, bounded_client(url, settings, answer_bytes))
                          for url in settings.solana_rpc_urls]
        for endpoint in self.endpoints:
            for family in ("ingest_rpc_slot", "ingest_rpc_lag_slots", "ingest_rpc_active", "ingest_rpc_latency_seconds"):
                metrics.show(family, endpoint=endpoint.url)

    async def close(self) -> None:
        """Close every endpoint's HTTP client."""
        await asyncio.gather(*(e.client.close() for e in self.endpoints))

    def usable(self, endpoint: Endpoint, now: float) -> bool:
        """Return whether an endpoint is neither cooling down after an error nor lagging."""
        best = max(e.slot for e in self.endpoints)
        cooling = now - endpoint.failed_at < self.settings.rpc_cooldown_s
        return not cooling and best - endpoint.slot <= self.settings.rpc_max_lag_slots

    def order(self) -> list[Endpoint]:
        """Return usable endpoints in configured order, then the others."""
        now = time.monotonic()
        usable = [e for e in self.endpoints if self.usable(e, now)]
        return usable + [e for e in self.endpoints if e not in usable]

    async def on(self, endpoint: Endpoint, method: str, request: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run one request on one endpoint, recording latency and errors."""
        labels = {"endpoint": endpoint.url, "method": method}
        self.metrics.inc("ingest_rpc_requests_total", **labels)
        self.metrics.show("ingest_rpc_errors_total", **labels)
        started = time.monotonic()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that comes as the answer
            # does, and a polling source then never stops
            async with asyncio.timeout(self.settings.rpc_timeout_s):
                return await request(endpoint.client)
        except RPC_ERRORS:
            endpoint.failed_at = time.monotonic()
            self.metrics.inc("ingest_rpc_errors_total", **labels)
            raise
        finally:
            self.metrics.observe("ingest_rpc_latency_seconds", time.monotonic() - started, endpoint=endpoint.url)

    async def call(self, method: str, request: Callable[[AsyncClient], Awaitable[T]], *,
                   found: Callable[[T], bool] = lambda _: True) -> T:
        """Return the first answer `found` accepts, failing over; else the last answer; else raise."""
        answer: list[T] = []
        for endpoint in self.order():
            try:
                result = await self.on(endpoint, method, request)
            except RPC_ERRORS as exc:
                log.warning("%s failed on %s: %r", method, endpoint.url, exc)
                continue
            self.mark_active(endpoint)
            if found(result):
                return result
            answer = [result]
        if answer:
            return answer[0]
        raise RpcUnavailable(f"{method}: no endpoint answered")

    def mark_active(self, endpoint: Endpoint) -> None:
        """Show which endpoint answered last."""
        for e in self.endpoints:
            self.metrics.set("ingest_rpc_active", 1.0 if e is endpoint else 0.0, endpoint=e.url)

    async def refresh_slots(self) -> None:
        """Ask every endpoint for its slot, to know which ones lag."""
        async def slot(endpoint: Endpoint) -> None:
            try:
                endpoint.slot = (await self.on(endpoint, "getSlot", lambda c: c.get_slot())).value
            except RPC_ERRORS as exc:
                log.warning("getSlot failed on %s: %r", endpoint.url, exc)

        await asyncio.gather(*(slot(e) for e in self.endpoints))
        best = max(e.slot for e in self.endpoints)
        for e in self.endpoints:
            self.metrics.set("ingest_rpc_slot", e.slot, endpoint=e.url)
            self.metrics.set("ingest_rpc_lag_slots", best - e.slot, endpoint=e.url)

    async def raw(self, method: str, params: list[Any], *, found: Callable[[Any], bool] = lambda _: True) -> Any:
        """Return a request's raw JSON `result`, exactly as the node sent it."""
        request = JsonRpcRequest(method=method, params=params)
        return await self.call(method, lambda c: c.send_rpc_request(request, Any), found=found)

