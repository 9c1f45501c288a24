"""Pyth prices: Hermes streaming for the configured feeds, and on-chain price accounts.

Hermes speaks two streaming wire formats and both are read: a `ws(s)://…/ws` URL subscribes on
Hermes' websocket (v1 `price_update` messages, verbose with the VAA, as pythclient subscribes) and
an `http(s)://` URL reads the v2 server-sent events of `/v2/updates/price/stream`. An unreadable
payload goes to `dlq`; one whose JSON its own binary update does not carry is counted. The stream
reconnects with backoff, also once it has said nothing for `QUANTDESK_HERMES_SILENCE_S`; an
interruption after data had flowed counts as a gap, with its length, in the metrics.
Price accounts are polled with getMultipleAccounts and their status is judged at the slot they
were read at, so an account not updated for more than its max latency reads `unknown`.
"""

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import httpx
import orjson
import websockets
from solders.pubkey import Pubkey

from programs.pyth import PythDecodeError, binary_mismatches, decode_price_account
from streams.sources.ingest.chain import backoff
from streams.sources.ingest.metrics import Metrics
from streams.sources.ingest.rpc import RpcPool, RpcUnavailable
from quantdesk.messages import DeadLetter, dump
from streams.sources.ingest.pyth_mapping import account_tick, hermes_ticks
from quantdesk.kafka.publisher import Publisher, partition_key
from quantdesk.settings import Settings

log = logging.getLogger(__name__)

HERMES = "hermes"
ACCOUNTS = "pyth-accounts"
MESSAGE_BYTES = 4 << 20  # a Hermes frame (or event line) holds one feed: a few KB
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def dead(id_: str, reason: str, payload: Any, ts: int = 0) -> dict[str, Any]:
    """Return the dead letter of a Pyth payload that could not be used."""
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return dump(DeadLetter(id=id_, ts=ts, topic="oracle.ticks", reason=reason, payload=text, stage="decode"))


def parsed(raw: str | bytes) -> Any:
    """Return a message's JSON, or its text when it is not JSON (then dead-lettered as unreadable, not lost in a
    reconnection)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


async def websocket_updates(url: str, feeds: list[str]) -> AsyncIterator[Any]:
    """Yield v1 price feeds from Hermes' websocket, subscribed verbose with binary (a frame is a few KB: one of more
    than `MESSAGE_BYTES` ends the connection)."""
    async with websockets.connect(url, max_size=MESSAGE_BYTES) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "ids": feeds, "verbose": True, "binary": True}).decode())
        async for raw in ws:
            message = parsed(raw)
            if not isinstance(message, dict):
                yield message  # not an update: dead-lettered as unreadable
            elif message.get("type") == "response" and message.get("status") != "success":
                raise ConnectionError(f"Hermes refused the subscription: {message.get('error', message)}")
            elif message.get("type") == "price_update":
                yield message.get("price_feed")


async def sse_updates(url: str, feeds: list[str]) -> AsyncIterator[Any]:
    """Yield v2 price updates from Hermes' server-sent event stream."""
    params = [("ids[]", f) for f in feeds] + [("parsed", "true"), ("encoding", "hex")]
    timeout = httpx.Timeout(10.0, read=None)
    async with httpx.AsyncClient(timeout=timeout) as http:
        async with http.stream("GET", f"{url.rstrip('/')}/v2/updates/price/stream", params=params) as response:
            response.raise_for_status()
            async for line in bounded_lines(response.aiter_text(), MESSAGE_BYTES):
                if line.startswith("data:"):
                    yield parsed(line[5:])


async def bounded_lines(chunks: AsyncIterator[str], most: int) -> AsyncIterator[str]:
    """Yield the lines of a text stream (ended by CR, LF or CRLF, as server-sent events are); raise ValueError at a
    line longer than `most` characters, reading no further (a stream with no line break would grow without end)."""
    pending = ""
    async for chunk in chunks:
        *lines, pending = LINE_BREAK.split(pending + chunk)
        for line in lines:
            yield line
        if len(pending) > most:
            raise ValueError(f"a server-sent event line longer than {most} characters")
    if pending:
        yield pending


def updates(url: str, feeds: list[str]) -> AsyncIterator[Any]:
    """Return the stream of Hermes payloads the URL's scheme selects."""
    return websocket_updates(url, feeds) if url.startswith(("ws://", "wss://")) else sse_updates(url, feeds)


async def heard(stream: AsyncIterator[Any], silence_s: float) -> AsyncIterator[Any]:
    """Yield what `stream` yields; raise TimeoutError once it has said nothing for `silence_s` (a connection can
    stay open and silent for ever: a half-open TCP connection, or a server that stopped sending)."""
    while True:
        try:
            async with asyncio.timeout(silence_s):  # not wait_for: it can lose a cancellation on 3.11
                payload = await anext(stream)
        except StopAsyncIteration:
            return
        yield payload


class HermesSource:
    """Streams Pyth prices from Hermes into `oracle.ticks`."""

    def __init__(self, settings: Settings, publisher: Publisher, metrics: Metrics) -> None:
        self.settings, self.publisher, self.metrics = settings, publisher, metrics
        metrics.source(HERMES, ("oracle.ticks",), ("decode",), streaming=True)
        metrics.show("ingest_hermes_binary_mismatches_total", source=HERMES)
        self.feeds = settings.feed_markets
        self.prices: dict[str, Decimal] = {}
        self.connected = False
        self.last_data: float | None = None
        self.gap_open = False

    def health(self) -> dict[str, Any]:
        """Return where the stream stands."""
        return {"connected": self.connected, "url": self.settings.hermes_url, "markets": sorted(self.prices)}

    async def run(self) -> None:
        """Stream until cancelled, reconnecting with backoff."""
        delays = backoff()
        while True:
            try:
                stream = updates(self.settings.hermes_url, sorted(self.feeds))
                async for payload in heard(stream, self.settings.hermes_silence_s):
                    self.on_data()
                    delays = backoff()
                    await self.publish(payload)
            except (OSError, ValueError, httpx.HTTPError, websockets.WebSocketException) as exc:
                log.warning("Hermes stream ended: %r", exc)
            self.on_drop()
            await asyncio.sleep(next(delays))

    def on_data(self) -> None:
        """Note data flowing, closing a gap if one was open."""
        now = time.monotonic()
        if not self.connected:
            self.connected = True
            self.metrics.set("ingest_connected", 1.0, source=HERMES)
        if self.gap_open and self.last_data is not None:
            self.metrics.inc("ingest_gap_seconds_total", now - self.last_data, source=HERMES)
            self.gap_open = False
        self.last_data = now

    def on_drop(self) -> None:
        """Note the stream dropping; after data had flowed, that opens a gap."""
        self.connected = False
        self.metrics.set("ingest_connected", 0.0, source=HERMES)
        self.metrics.inc("ingest_reconnects_total", source=HERMES)
        if self.last_data is not None and not self.gap_open:
            self.gap_open = True
            self.metrics.inc("ingest_gaps_total", source=HERMES)

    async def publish(self, payload: Any) -> None:
        """Publish a payload's ticks, or a dead letter when it is unreadable."""
        try:
            ticks, refused = hermes_ticks(payload, self.feeds)
        except PythDecodeError as exc:
            await self.dead_letters({"": str(exc)}, payload)
            return
        await self.dead_letters({f":{feed}": why for feed, why in refused.items()}, payload)
        self.check_binary(payload)
        await self.publisher.send(("oracle.ticks", partition_key("oracle.ticks", t), t) for t in ticks)
        self.prices.update({t["market"]: Decimal(t["price"]) for t in ticks})
        self.metrics.inc("ingest_published_total", len(ticks), source=HERMES, topic="oracle.ticks")

    async def dead_letters(self, refused: dict[str, str], payload: Any) -> None:
        """Dead-letter a payload once per entry of `refused` (id `hermes:<its digest><suffix>`: the suffix, the
        reason)."""
        if not refused:
            return
        digest = hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
        await self.publisher.send([("dlq", "dlq", dead(f"hermes:{digest}{suffix}", why, payload))
                                   for suffix, why in refused.items()])
        self.metrics.inc("ingest_dlq_total", len(refused), source=HERMES, stage="decode")

    def check_binary(self, payload: Any) -> None:
        """Count (and log) a payload whose JSON prices its own binary update does not carry.

        The JSON is still used: the binary's Wormhole signatures are not checked here, so it is a
        consistency figure for operators, not a proof.
        """
        try:
            problems = binary_mismatches(payload)
        except PythDecodeError as exc:
            problems = [str(exc)]
        if problems:
            self.metrics.inc("ingest_hermes_binary_mismatches_total", source=HERMES)
            log.warning("Hermes payload disagrees with its binary update: %s", "; ".join(problems))


class PriceAccountSource:
    """Polls on-chain Pyth price accounts into `oracle.ticks`, status judged at the slot read."""

    def __init__(self, settings: Settings, pool: RpcPool, publisher: Publisher, metrics: Metrics) -> None:
        self.settings, self.pool, self.publisher, self.metrics = settings, pool, publisher, metrics
        metrics.source(ACCOUNTS, ("oracle.ticks",), ("decode",))
        self.accounts: Mapping[str, str] = settings.pyth_price_accounts
        self.last: dict[str, str] = {}

    def health(self) -> dict[str, Any]:
        """Return the last message id published per account."""
        return {"accounts": dict(self.last)}

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.poll()
            except RpcUnavailable as exc:
                log.warning("price accounts not read: %r", exc)
            await asyncio.sleep(self.settings.pyth_account_poll_s)

    async def poll(self) -> None:
        """Read every account once and publish the ticks that changed."""
        keys = [Pubkey.from_string(k) for k in self.accounts]
        answer = await self.pool.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys, encoding="base64"))
        read = [self.message(key, account, answer.context.slot) for key, account in zip(self.accounts, answer.value)]
        fresh = [(key, topic, value) for key, (topic, value) in zip(self.accounts, read)
                 if self.last.get(key) != value["id"]]
        await self.publisher.send((topic, partition_key(topic, value), value) for _, topic, value in fresh)
        for key, topic, value in fresh:
            self.last[key] = value["id"]
            self.metrics.inc("ingest_published_total", source=ACCOUNTS, topic=topic)
            if topic == "dlq":
                self.metrics.inc("ingest_dlq_total", source=ACCOUNTS, stage="decode")

    def message(self, key: str, account: Any, slot: int) -> tuple[str, dict[str, Any]]:
        """Return the account's tick read at `slot`, or a dead letter; a stale tick has its own id."""
        if account is None:
            return "dlq", dead(f"pyth-account:{key}:missing", f"price account {key} does not exist", key)
        try:
            tick = account_tick(decode_price_account(bytes(account.data), key), self.accounts[key], slot)
        except PythDecodeError as exc:
            return "dlq", dead(f"pyth-account:{key}:{slot}", str(exc), bytes(account.data).hex())
        if tick["status"] != "trading":
            tick["id"] = f"{tick['id']}:{tick['status']}"
        return "oracle.ticks", tick
