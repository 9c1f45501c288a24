"""Webhooks: every account signal POSTed, signed, to each live webhook of its own wallet that wants its kind.

The dispatcher reads `mikey.signals` itself and commits its progress as the group `<app id>-webhooks`. Each
delivery (a signal to one webhook) runs as a task of its own, so a slow or failing receiver holds up no other
one, within bounds: `webhook_concurrency` requests in flight, `PER_WEBHOOK` to one webhook, and no new reads while
`OUTSTANDING_PER_REQUEST` × that many deliveries are unfinished. A delivery is attempted up to
`webhook_max_attempts` times with exponential backoff; every attempt is stored in `webhook_deliveries` (its
HTTP status, or 0, and why it failed). The committed offset of a partition never passes a message one of whose
deliveries has neither succeeded nor used all its attempts, so a dispatcher stopped anywhere delivers it after
its restart; what the records show delivered (or given up) is not sent again: at least once, each with the
signal id as its idempotency key.

Every request resolves its host through `GuardedResolver`, which refuses addresses that must not be called (see
`quantdesk.webhooks`), so a URL whose DNS changed since its registration reaches no private address; redirects
are not followed, no proxy from the environment is used, cookies are not kept.
"""

import asyncio
import logging
import socket
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiokafka import TopicPartition
from clickhouse_connect.driver.exceptions import ClickHouseError

from quantdesk.broker import BATCH_FETCH_WAIT_MS, BATCH_PARTITION_BYTES
from quantdesk.kafka.reader import Reader
from quantdesk.messages import Signal
from quantdesk.settings import Settings
from quantdesk.webhooks import (IDEMPOTENCY_HEADER, SIGNAL_ID_HEADER, SIGNATURE_HEADER, WEBHOOK_ID_HEADER,
                                allows_loopback, attempts_made, check_addresses, literal, live_webhooks, parse_url,
                                signature, wants, webhook_secret)
from streams.decode import decode_events
from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
TOPIC = "mikey.signals"
FETCH_MS = 200  # the longest a read waits: progress is committed at least this often
FETCH_MOST = 500
PER_WEBHOOK = 4  # requests in flight to one webhook at once
OUTSTANDING_PER_REQUEST = 8
RETRY_FIRST_S, RETRY_MOST_S = 0.25, 30.0
ERROR_CHARS = 500
DELIVERY_COLUMNS = ["id", "ts", "attempted_at", "webhook_id", "signal_id", "wallet", "attempt", "status", "error",
                    "delivered"]
USER_AGENT = "QuantDesk-Webhooks/1"
T = TypeVar("T")


def progress_group(settings: Settings) -> str:
    """Return the consumer group the dispatcher commits its progress as."""
    return f"{settings.app_id}-webhooks"


class GuardedResolver(AbstractResolver):
    """Resolve a host as the system does, and refuse (`RefusedAddress`, an OSError) when any of its addresses must
    not be called: the check runs at every connection, on the addresses the connection then uses."""

    def __init__(self, allow_loopback: bool) -> None:
        self.inner = aiohttp.ThreadedResolver()
        self.allow_loopback = allow_loopback

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """Return the host's addresses once every one of them may be called."""
        found = await self.inner.resolve(host, port, family)
        check_addresses(host, [r["host"] for r in found], self.allow_loopback)
        return found

    async def close(self) -> None:
        """Release the inner resolver."""
        await self.inner.close()


async def patiently(what: str, query: Callable[[], Awaitable[T]]) -> T:
    """Return a warehouse call's result, waiting out a failing ClickHouse (what waits on it waits meanwhile)."""
    wait = RETRY_FIRST_S
    while True:
        try:
            return await query()
        except ClickHouseError as exc:
            log.error("%s failed, retrying in %.1f s: %s", what, wait, exc)
            await asyncio.sleep(wait)
            wait = min(2 * wait, RETRY_MOST_S)


def account_signals(raw: bytes | None) -> list[Signal]:
    """Return the account signals (those that name a wallet) of a message; market signals and what does not
    validate are skipped (the sink stores what it can; no webhook gets them)."""
    return [s for s in decode_events(Signal, TOPIC, raw, 0)[0] if s.wallet]


@dataclass(frozen=True)
class Delivery:
    """One signal to one webhook: the exact body, and where its message lies."""

    signal: Signal
    body: bytes
    webhook: dict[str, Any]
    first_attempt: int  # 1, or the one after those a dispatcher before this one recorded
    tp: TopicPartition
    offset: int

    def row(self, attempt: int, attempted_at: int, status: int, error: str, delivered: bool) -> list[Any]:
        """Return an attempt's row of `webhook_deliveries`."""
        return [f"{self.signal.id}:{self.webhook['id']}:{attempt}", self.signal.ts, attempted_at, self.webhook["id"],
                self.signal.id, self.signal.wallet, attempt, status, error[:ERROR_CHARS], delivered]


class Dispatcher:
    """Delivers account signals to webhooks and commits only what is done (delivered or out of attempts)."""

    def __init__(self, pipeline: Pipeline) -> None:
        assert pipeline.warehouse is not None, "webhooks read their registrations from the warehouse"
        self.pipeline, self.settings, self.warehouse = pipeline, pipeline.settings, pipeline.warehouse
        self.requests = asyncio.Semaphore(self.settings.webhook_concurrency)
        self.per_webhook: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_WEBHOOK))
        self.tasks: set[asyncio.Task[None]] = set()
        self.running: dict[tuple[str, str], list[tuple[TopicPartition, int]]] = {}  # (signal, webhook) -> offsets
        self.pending: dict[TopicPartition, dict[int, int]] = defaultdict(dict)  # offset -> deliveries unfinished
        self.read_to: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.failure: BaseException | None = None
        self.http: aiohttp.ClientSession | None = None

    def client(self) -> aiohttp.ClientSession:
        """Return the HTTP client: guarded resolution, one timeout per attempt, no proxies, no cookies."""
        settings = self.settings
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(allows_loopback(settings)), use_dns_cache=False,
                                         limit=settings.webhook_concurrency)
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_s),
                                     trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                                     headers={"User-Agent": USER_AGENT})

    async def run(self) -> None:
        """Deliver from the committed offsets on (each partition's start without one), until cancelled."""
        settings = self.settings
        most = OUTSTANDING_PER_REQUEST * settings.webhook_concurrency
        async with Reader(self.pipeline.bootstrap, progress_group(settings), BATCH_FETCH_WAIT_MS,
                          BATCH_PARTITION_BYTES) as reader, self.client() as http:
            self.http = http
            parts = [TopicPartition(settings.topic(TOPIC), p) for p in range(settings.topic_partitions)]
            starts = {tp: await reader.committed(tp) or 0 for tp in parts}
            reader.assign(starts)
            self.read_to, self.committed = dict(starts), dict(starts)
            try:
                while True:
                    if self.failure is not None:
                        raise self.failure
                    if len(self.tasks) >= most:
                        await asyncio.wait(self.tasks, timeout=FETCH_MS / 1000, return_when=asyncio.FIRST_COMPLETED)
                    else:
                        await self.plan(await reader.fetch(timeout_ms=FETCH_MS, max_records=FETCH_MOST))
                    await self.commit(reader)
            finally:
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)

    async def plan(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Start a delivery for each account signal fetched and each live webhook of its wallet that wants it,
        except those the records show delivered or out of attempts."""
        found = [(tp, r.offset, account_signals(r.value)) for tp, records in fetched.items() for r in records]
        signals = [s for _, _, batch in found for s in batch]
        wallets = [s.wallet for s in signals if s.wallet]
        webhooks = await patiently("reading webhooks", lambda: live_webhooks(self.warehouse, wallets))
        wanted = {s.id: [w for w in webhooks if wants(w, s.wallet, s.kind, s.ts)] for s in signals}
        ids = [i for i, hooks in wanted.items() if hooks]
        made = await patiently("reading webhook attempts", lambda: attempts_made(self.warehouse, ids))
        for tp, offset, batch in found:
            for signal in batch:
                body = orjson.dumps(signal.model_dump(mode="json"))
                for webhook in wanted[signal.id]:
                    last, delivered = made.get((signal.id, webhook["id"]), (0, False))
                    if not delivered and last < self.settings.webhook_max_attempts:
                        self.start(Delivery(signal, body, webhook, last + 1, tp, offset))
            self.read_to[tp] = offset + 1

    def start(self, delivery: Delivery) -> None:
        """Run a delivery as a task; its message's offset stays pending until it is done. A signal id met again
        (published again, say by a restarted producer) while its delivery to this webhook runs joins that one."""
        held = self.pending[delivery.tp]
        held[delivery.offset] = held.get(delivery.offset, 0) + 1
        key = (delivery.signal.id, delivery.webhook["id"])
        if key in self.running:
            self.running[key].append((delivery.tp, delivery.offset))
            return
        self.running[key] = [(delivery.tp, delivery.offset)]
        task = asyncio.create_task(self.deliver(delivery), name=f"webhook {delivery.webhook['id']}")
        self.tasks.add(task)
        task.add_done_callback(lambda t: self.finished(t, key))

    def finished(self, task: asyncio.Task[None], key: tuple[str, str]) -> None:
        """Release a done delivery's hold on its offsets; keep a failure for the loop to raise."""
        self.tasks.discard(task)
        holders = self.running.pop(key)
        if task.cancelled():
            return
        if task.exception() is not None:
            self.failure = self.failure or task.exception()
            return
        for tp, offset in holders:
            held = self.pending[tp]
            held[offset] -= 1
            if not held[offset]:
                del held[offset]

    def progress(self) -> dict[TopicPartition, int]:
        """Return, per partition, the offset before which every delivery is done."""
        return {tp: min(self.pending[tp], default=end) for tp, end in self.read_to.items()}

    async def commit(self, reader: Reader) -> None:
        """Commit the partitions whose progress moved."""
        moved = {tp: offset for tp, offset in self.progress().items() if offset != self.committed.get(tp)}
        if moved:
            await reader.commit(moved)
            self.committed.update(moved)

    async def deliver(self, delivery: Delivery) -> None:
        """Attempt a delivery until it succeeds, its attempts are used, or its webhook is deleted; record each."""
        settings, attempt = self.settings, delivery.first_attempt
        while True:
            attempted_at = int(time.time() * 1000)
            status, error = await self.attempt(delivery, attempt)
            delivered = 200 <= status < 300
            await self.record(delivery.row(attempt, attempted_at, status, error, delivered))
            if delivered or attempt >= settings.webhook_max_attempts:
                if not delivered:
                    log.warning("webhook %s: signal %s not delivered after %d attempts (%s)",
                                delivery.webhook["id"], delivery.signal.id, attempt, error)
                return
            await asyncio.sleep(min(settings.webhook_backoff_s * 2 ** (attempt - delivery.first_attempt),
                                    settings.webhook_backoff_max_s))
            attempt += 1
            if not await self.still_live(delivery.webhook):
                return

    async def attempt(self, delivery: Delivery, attempt: int) -> tuple[int, str]:
        """POST the signal once; return the HTTP status (0 without an answer) and why it failed ("" when 2xx)."""
        webhook, signal = delivery.webhook, delivery.signal
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: signature(webhook_secret(self.settings, webhook["id"]), delivery.body),
                   SIGNAL_ID_HEADER: signal.id, IDEMPOTENCY_HEADER: signal.id, WEBHOOK_ID_HEADER: webhook["id"],
                   "X-QuantDesk-Attempt": str(attempt)}
        assert self.http is not None
        async with self.per_webhook[webhook["id"]], self.requests:
            try:
                url = parse_url(webhook["url"])
                if literal(url.raw_host or "") is not None:  # an address in the URL is never resolved
                    check_addresses(url.raw_host or "", [(url.raw_host or "").strip("[]")],
                                    allows_loopback(self.settings))
                async with self.http.post(url, data=delivery.body, headers=headers, allow_redirects=False) as answer:
                    ok = 200 <= answer.status < 300
                    return answer.status, "" if ok else f"HTTP {answer.status} {answer.reason or ''}".strip()
            except aiohttp.ClientConnectorDNSError as exc:
                return 0, str(exc.os_error)
            except TimeoutError:
                return 0, f"no answer within {self.settings.webhook_timeout_s:g} s"
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                return 0, f"{type(exc).__name__}: {exc}"

    async def record(self, row: list[Any]) -> None:
        """Store an attempt, waiting out a failing ClickHouse (the delivery, and its offset, wait meanwhile)."""
        stored = await patiently(f"recording webhook attempt {row[0]}",
                                 lambda: self.warehouse.astore("webhook_deliveries", DELIVERY_COLUMNS, [row]))
        if stored.refused:
            log.error("webhook attempt %s cannot be recorded: %s", row[0], stored.refused)

    async def still_live(self, webhook: dict[str, Any]) -> bool:
        """Tell whether a webhook is still registered (a deleted one gets no more attempts)."""
        found = await patiently("reading webhooks", lambda: live_webhooks(self.warehouse, [webhook["wallet"]]))
        return any(w["id"] == webhook["id"] for w in found)


def register(pipeline: Pipeline) -> Dispatcher:
    """Register the dispatcher as a task of the app: its failure crashes the app."""
    dispatcher = Dispatcher(pipeline)
    pipeline.loop(dispatcher.run, "webhooks")
    return dispatcher

