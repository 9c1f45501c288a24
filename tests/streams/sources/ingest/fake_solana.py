"""A Solana JSON-RPC and websocket server on loopback, speaking the real wire format.

HTTP POST `/` answers getSignaturesForAddress, getTransaction (json or base64), getSlot,
getMultipleAccounts and getLatestBlockhash from an in-memory ledger of signed transactions;
a websocket on `/` answers logsSubscribe and pushes logsNotification when a test announces a
transaction. Knobs make it fail every request, lag, hold getTransaction after some answers, or answer
with a body that never ends.
"""

import asyncio
import base64
from collections import Counter
from typing import Any

from aiohttp import WSMsgType, web

from quantdesk.broker import free_port
from tests.local_server import listen
from tests.streams.sources.ingest.chain_kit import Recorded
from tests.programs.programs_testkit import get_transaction_result

PYTH_OWNER = "FsJ3A3u2vn5cTVofAjvy6y5kwABJAqYWpe4975bi2epH"


class FakeSolana:
    """One RPC node: a ledger, accounts, and knobs for failure, lag and holding."""

    def __init__(self, slot: int = 250_000_000) -> None:
        self.ledger: list[tuple[Recorded, int]] = []  # (transaction, slot), oldest first
        self.accounts: dict[str, bytes] = {}
        self.slot = slot
        self.failing: set[str] = set()  # methods answered with an error; "*" for all, "http" for HTTP 503
        self.flooding: str | None = None  # every answer a body without end ("chunked", or "declared" as 1 TB)
        self.flooded = 0
        self.flood_over = asyncio.Event()  # a flooded client went
        self.hold_after: int | None = None
        self.release = asyncio.Event()
        self.served = 0
        self.requests: Counter[str] = Counter()
        self.subscribers: list[tuple[web.WebSocketResponse, int]] = []
        self.subscribed = asyncio.Event()
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Return the JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Return the websocket URL."""
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> "FakeSolana":
        """Listen on the loopback port."""
        app = web.Application()
        app.router.add_post("/", self.rpc)
        app.router.add_get("/", self.websocket)
        self.runner = await listen(app, self.port)
        return self

    async def stop(self) -> None:
        """Close sockets and stop listening."""
        self.release.set()
        for ws, _ in self.subscribers:
            await ws.close()
        if self.runner:
            await self.runner.cleanup()

    def record(self, recorded: Recorded) -> Recorded:
        """Put a transaction in the ledger, one slot after the previous one."""
        self.slot += 1
        self.ledger.append((recorded, self.slot))
        return recorded

    async def announce(self, recorded: Recorded) -> None:
        """Record a transaction and notify every logs subscriber, as a validator does."""
        self.record(recorded)
        value = {"signature": recorded.signature, "err": recorded.err, "logs": recorded.logs}
        for ws, subscription in self.subscribers:
            params = {"result": {"context": {"slot": self.slot}, "value": value}, "subscription": subscription}
            await ws.send_json({"jsonrpc": "2.0", "method": "logsNotification", "params": params})

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        """Answer one JSON-RPC request."""
        body = await request.json()
        method, params = body["method"], body.get("params") or []
        self.requests[method] += 1
        if self.flooding:
            return await self.flood(request)
        if "http" in self.failing:
            return web.Response(status=503, text="upstream unavailable")
        if method in self.failing or "*" in self.failing:
            error = {"code": -32005, "message": "Node is unhealthy", "data": {"numSlotsBehind": None}}
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})
        result = await getattr(self, method)(*params)
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})

    async def flood(self, request: web.Request) -> web.StreamResponse:
        """Answer with a JSON text that never ends, until the client goes; its bytes counted in `flooded`."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if self.flooding == "declared":
            response.content_length = 1 << 40
        await response.prepare(request)
        chunk = b'{"jsonrpc": "2.0", "result": "' + b"9" * 65_536
        try:
            while True:
                await response.write(chunk)
                self.flooded += len(chunk)
        except (ConnectionError, RuntimeError):  # the client closed its end
            self.flood_over.set()
            return response

    def context(self, value: Any) -> dict[str, Any]:
        """Wrap a value in the RpcResponse context."""
        return {"context": {"slot": self.slot, "apiVersion": "2.0.15"}, "value": value}

    async def getSlot(self, *_: Any) -> int:  # noqa: N802 - the RPC method's name
        """Return the newest slot."""
        return self.slot

    async def getSignaturesForAddress(  # noqa: N802
            self, address: str, config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return signatures mentioning `address`, newest first, between `before` and `until`."""
        config = config or {}
        before, until, limit = config.get("before"), config.get("until"), config.get("limit", 1000)
        out, started = [], before is None
        for recorded, slot in reversed(self.ledger):
            if recorded.signature == until:
                break
            if started and address in map(str, recorded.tx.message.account_keys):
                out.append({"signature": recorded.signature, "slot": slot, "err": recorded.err, "memo": None,
                            "blockTime": recorded.block_time, "confirmationStatus": "confirmed"})
            started = started or recorded.signature == before
            if len(out) == limit:
                break
        return out

    async def getTransaction(  # noqa: N802
            self, signature: str, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Return a transaction in the encoding asked for, holding once `hold_after` were served."""
        if self.hold_after is not None and self.served >= self.hold_after:
            await self.release.wait()
        self.served += 1
        encoding = (config or {}).get("encoding", "json")
        for recorded, slot in self.ledger:
            if recorded.signature == signature:
                return get_transaction_result(recorded.tx, encoding=encoding, err=recorded.err, logs=recorded.logs,
                                              slot=slot, block_time=recorded.block_time)
        return None

    async def getMultipleAccounts(  # noqa: N802
            self, keys: list[str], config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return accounts in base64, null for unknown ones."""
        return self.context([self.account(self.accounts[k]) if k in self.accounts else None for k in keys])

    def account(self, data: bytes) -> dict[str, Any]:
        """Return an account as the RPC shows it in base64."""
        return {"data": [base64.b64encode(data).decode(), "base64"], "executable": False, "lamports": 23_942_400,
                "owner": PYTH_OWNER, "rentEpoch": 18_446_744_073_709_551_615, "space": len(data)}

    async def getLatestBlockhash(self, *_: Any) -> dict[str, Any]:  # noqa: N802
        """Return a fixed recent blockhash."""
        return self.context({"blockhash": "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N",
                             "lastValidBlockHeight": self.slot + 150})

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Answer logsSubscribe and keep the socket for notifications."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            body = message.json()
            self.requests[body["method"]] += 1
            subscription = len(self.subscribers) + 1
            if body["method"] == "logsSubscribe":
                self.subscribers.append((ws, subscription))
                await ws.send_json({"jsonrpc": "2.0", "result": subscription, "id": body["id"]})
                self.subscribed.set()
            else:
                await ws.send_json({"jsonrpc": "2.0", "result": True, "id": body["id"]})
        self.subscribers = [(w, s) for w, s in self.subscribers if w is not ws]
        return ws
