"""The QuantDesk program on Solana: backfill from the durable cursor, then live via logsSubscribe.

Backfill lists the program's signatures after the cursor (getSignaturesForAddress, newest first,
paged), takes them oldest first in batches and moves the cursor after each batch is published.
Live notifications fetch their transaction at once; they only mark the signature taken, and the
next backfill round (on every websocket connect, and every `backfill_interval_s`) moves the cursor
past them. Every transaction is verified before use; a rejected one goes to `dlq` with the reason.
A signature already taken is dropped as a duplicate. Native SOL deposits are valued at the newest
SOL/USD price the Pyth source has seen; without one, mapping sends them to `dlq` saying so.
"""

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from solana.rpc.websocket_api import SolanaWsClient
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilterMentions
from solders.rpc.responses import LogsNotification
from solders.signature import Signature

from streams.sources.ingest.chain_mapping import ChainContext, Mapped, map_transaction
from programs.verify import VerificationError, verify_transaction
from streams.sources.ingest.delivery import Delivery
from streams.sources.ingest.metrics import Metrics
from streams.sources.ingest.rpc import RpcPool, RpcUnavailable
from quantdesk.messages import LATEST_MS, DeadLetter, dump
from quantdesk.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "solana"
PAGE = 1000
BATCH = 20
FETCHING = 8


class NotYetAvailable(RuntimeError):
    """A listed transaction no endpoint returns yet: backfill stops before it and retries later."""


def rejected(signature: str, result: Any, reason: str) -> Mapped:
    """Return the dead letter of a transaction that failed verification, with the node's JSON (whatever it holds:
    a block time of another type or out of range is 0, an integer past 64 bits is written as it came)."""
    block_time = result.get("blockTime") if isinstance(result, Mapping) else None
    ts = block_time * 1000 if type(block_time) is int and 0 <= block_time * 1000 < LATEST_MS else 0
    letter = DeadLetter(id=f"{signature}:verify", ts=ts, topic="programs", reason=reason,
                        payload=json.dumps(result, default=repr, separators=(",", ":"), ensure_ascii=False),
                        signature=signature, stage="verify")
    return Mapped("dlq", dump(letter))


def backoff(first: float = 0.5, most: float = 30.0) -> Iterator[float]:
    """Yield growing waits between reconnections: `first`, doubled each time, at most `most`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


class ChainSource:
    """Reads the program's transactions and publishes what they mean."""

    def __init__(self, settings: Settings, pool: RpcPool, delivery: Delivery, metrics: Metrics,
                 sol_usd: Callable[[], Decimal | None]) -> None:
        self.settings, self.pool, self.delivery, self.metrics = settings, pool, delivery, metrics
        metrics.source(SOURCE, (), ("verify", "map"), streaming=True)
        metrics.set("ingest_backfill_behind", 0.0, source=SOURCE)
        metrics.show("ingest_duplicates_total", source=SOURCE)
        self.store = delivery.store
        self.program = Pubkey.from_string(settings.program_id)
        self.sol_usd = sol_usd
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.behind = 0
        self.connected = False

    def health(self) -> dict[str, Any]:
        """Return where the source stands."""
        cursor = self.store.cursor()
        return {"cursor": cursor[0] if cursor else None, "cursor_slot": cursor[1] if cursor else None,
                "backfill_behind": self.behind, "live": self.connected}

    async def run(self) -> None:
        """Backfill and follow live until cancelled."""
        await self.delivery.recover()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.backfill_forever(), name="solana-backfill")
            group.create_task(self.live_forever(), name="solana-live")

    def context(self) -> ChainContext:
        """Return what mapping needs now."""
        return ChainContext(markets=self.settings.chain_markets, price_scale=self.settings.price_scale,
                            sol_usd=self.sol_usd(), program_id=self.program)

    async def backfill_forever(self) -> None:
        """Catch up now, then whenever woken or every `backfill_interval_s`."""
        while True:
            self.wake.clear()
            try:
                await self.pool.refresh_slots()
                await self.catch_up()
            except (NotYetAvailable, RpcUnavailable) as exc:
                log.warning("backfill stopped for now: %r", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.backfill_interval_s):  # not wait_for: see rpc.RpcPool.on
                    await self.wake.wait()

    async def listed_after_cursor(self) -> list[tuple[str, int]]:
        """Return (signature, slot) of the program's transactions after the cursor, oldest first."""
        cursor = self.store.cursor()
        until = Signature.from_string(cursor[0]) if cursor else None
        listed: list[tuple[str, int]] = []
        before = None
        while True:
            page = (await self.pool.call("getSignaturesForAddress", lambda c: c.get_signatures_for_address(
                self.program, before=before, until=until, limit=PAGE, commitment=self.settings.commitment))).value
            listed += [(str(s.signature), s.slot) for s in page]
            if len(page) < PAGE:
                return listed[::-1]
            before = page[-1].signature

    async def catch_up(self) -> None:
        """Take every transaction after the cursor, a batch at a time, moving the cursor."""
        listed = await self.listed_after_cursor()
        self.behind = len(listed)
        self.metrics.set("ingest_backfill_behind", self.behind, source=SOURCE)
        for start in range(0, len(listed), BATCH):
            batch = listed[start:start + BATCH]
            async with self.lock:
                await self.take([(s, slot) for s, slot in batch if not self.duplicate(s)], cursor=batch[-1])
            self.behind = len(listed) - start - len(batch)
            self.metrics.set("ingest_backfill_behind", self.behind, source=SOURCE)

    def duplicate(self, signature: str) -> bool:
        """Return (and count) whether a signature was already taken."""
        if self.store.seen(signature):
            self.metrics.inc("ingest_duplicates_total", source=SOURCE)
            return True
        return False

    async def fetch(self, signature: str) -> Mapping[str, Any] | None:
        """Return getTransaction's raw result, asking the next endpoint when one has none."""
        params = [signature, {"encoding": "json", "commitment": self.settings.commitment,
                              "maxSupportedTransactionVersion": 0}]
        return await self.pool.raw("getTransaction", params, found=lambda r: r is not None)

    async def take(self, batch: list[tuple[str, int]], cursor: tuple[str, int] | None) -> None:
        """Fetch, verify, map and deliver a batch; raise NotYetAvailable if one is missing."""
        limit = asyncio.Semaphore(FETCHING)

        async def fetch(signature: str) -> Mapping[str, Any] | None:
            async with limit:
                return await self.fetch(signature)

        results = await asyncio.gather(*(fetch(s) for s, _ in batch))
        missing = [s for (s, _), r in zip(batch, results) if r is None]
        if missing:
            raise NotYetAvailable(f"no endpoint has transaction {missing[0]} yet")
        messages = [m for (s, _), r in zip(batch, results) for m in self.messages(s, r)]
        await self.delivery.deliver(messages, batch, cursor)

    def messages(self, signature: str, result: Mapping[str, Any]) -> list[Mapped]:
        """Return a transaction's messages, or its dead letter when verification rejects it."""
        try:
            tx = verify_transaction(result, self.settings.commitment, self.store.seen, program_id=self.program)
        except VerificationError as exc:
            return [rejected(signature, result, exc.reason)]
        if tx.signature != signature:
            return [rejected(signature, result, f"node returned transaction {tx.signature} for {signature}")]
        return map_transaction(tx, self.context())

    async def take_live(self, signature: str) -> None:
        """Take one notified transaction now (the cursor stays for backfill to move)."""
        async with self.lock:
            if self.duplicate(signature):
                return
            try:
                result = await self.fetch(signature)
            except RpcUnavailable:
                result = None
            if result is None:
                self.wake.set()  # backfill takes it once an endpoint has it
                return
            await self.delivery.deliver(self.messages(signature, result), [(signature, int(result["slot"]))], None)

    async def live_forever(self) -> None:
        """Follow the program's logs over the websocket endpoints in turn, reconnecting with backoff."""
        delays = backoff()
        for url in itertools.cycle(self.settings.solana_ws_urls):
            try:
                await self.follow(url)
                delays = backoff()
            except Exception as exc:  # noqa: BLE001 - any websocket failure means reconnecting
                log.warning("logsSubscribe on %s ended: %r", url, exc)
            self.connected = False
            self.metrics.set("ingest_connected", 0.0, source=SOURCE)
            self.metrics.inc("ingest_reconnects_total", source=SOURCE)
            await asyncio.sleep(next(delays))

    async def follow(self, url: str) -> None:
        """Subscribe to logs mentioning the program and take each notified transaction."""
        async with SolanaWsClient(url, request_timeout=self.settings.rpc_timeout_s) as ws:
            await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(self.program),
                                    commitment=self.settings.commitment)
            self.connected = True
            self.metrics.set("ingest_connected", 1.0, source=SOURCE)
            self.wake.set()  # what happened while disconnected comes from backfill
            async for notification in ws:
                if isinstance(notification, LogsNotification):
                    await self.take_live(str(notification.result.value.signature))
