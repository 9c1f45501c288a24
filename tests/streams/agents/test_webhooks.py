"""The webhook dispatcher POSTs each account signal, signed, to its own wallet's webhooks only; retries with the
same idempotency key and records every attempt; checks the address again at delivery; and commits its progress
only past deliveries that are done, so a stop anywhere loses none and a restart sends none twice."""

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator

import httpx
import orjson
from aiohttp import web
from aiokafka import TopicPartition
from pydantic import SecretStr
from solders.keypair import Keypair

from api.auth import COOKIE
from api.embedded import running
from quantdesk.broker import free_port
from quantdesk.kafka.lag import behind
from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.topics import ensure_topics
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from quantdesk.webhooks import add_webhook, remove_webhook, verify, webhook_secret
from streams.agents.webhooks import Delivery, Dispatcher, progress_group
from streams.app import faust_app
from streams.pipeline import Pipeline
from tests.api.signing import sign_in
from tests.local_server import listen
from tests.waiting import eventually

A, B = "WalletA1111111111111111111111111111111111111", "WalletB2222222222222222222222222222222222222"


def now_ms() -> int:
    """Return the wall clock in UTC ms (signals are raised now, after the webhooks' registration)."""
    return int(time.time() * 1000)


def signal(name: str, wallet: str | None, kind: str = "health", ts: int | None = None) -> tuple[str, str, dict]:
    """Return a signal on `mikey.signals`: an account's when it names a wallet, else SOL-PERP's."""
    subject = f"{wallet}:0" if wallet else "SOL-PERP"
    return "mikey.signals", subject, {
        "id": f"{kind}:{subject}:{name}", "ts": ts or now_ms(), "kind": kind, "severity": "warning",
        "subject": subject, "message": f"Health 18.4 on {subject}, under 20", "market": "SOL-PERP",
        "wallet": wallet, "subaccount": 0 if wallet else None, "data": {"health": "18.4"}, "causes": [name]}


class Receiver:
    """A local HTTP receiver: records every request and answers the scripted statuses (then 200), after a delay."""

    def __init__(self, statuses: tuple[int, ...] = (), delay_s: float = 0.0) -> None:
        self.statuses, self.delay_s = list(statuses), delay_s
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        """Return the URL of a path on this receiver."""
        return f"http://{host}:{self.port}{path}"

    def ids(self) -> list[str]:
        """Return the signal ids received, in order."""
        return [headers["Idempotency-Key"] for headers, _ in self.got]

    async def handle(self, request: web.Request) -> web.Response:
        """Record the request; answer the next scripted status."""
        self.got.append((dict(request.headers), await request.read()))
        await asyncio.sleep(self.delay_s)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator["Receiver"]:
        """Serve on 127.0.0.1 until the block exits."""
        app = web.Application()
        app.router.add_post("/{path:.*}", self.handle)
        runner = await listen(app, self.port, shutdown_s=0.1)
        try:
            yield self
        finally:
            await runner.cleanup()


def quick(settings: Settings, **changes: Any) -> Settings:
    """Return the settings with short backoffs."""
    return settings.model_copy(update={"webhook_backoff_s": 0.05, "webhook_timeout_s": 5.0, **changes})


@contextlib.asynccontextmanager
async def dispatching(settings: Settings, warehouse: Warehouse,
                      kind: type[Dispatcher] = Dispatcher) -> AsyncIterator[Dispatcher]:
    """Run a dispatcher until the block exits (then stop it, as a worker's stop cancels its loops)."""
    bootstrap = settings.kafka_bootstrap or ""
    await ensure_topics(settings, bootstrap)
    dispatcher = kind(Pipeline(settings, faust_app(settings, bootstrap), warehouse, bootstrap))
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(settings: Settings, *events: tuple[str, str, dict]) -> None:
    """Publish signals as the signal rules do."""
    async with Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await publisher.send(events)


async def caught_up(settings: Settings) -> bool:
    """Tell whether the dispatcher committed everything on `mikey.signals` (every delivery done)."""
    parts = [TopicPartition(settings.topic("mikey.signals"), p) for p in range(settings.topic_partitions)]
    return await behind(settings.kafka_bootstrap or "", progress_group(settings), parts) == 0


def attempts(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Return every recorded attempt, by signal, webhook and attempt."""
    return warehouse.rows(f"SELECT signal_id, webhook_id, wallet, attempt, status, error, delivered, "
                          f"toUnixTimestamp64Milli(ts) AS ts FROM {warehouse.database}.webhook_deliveries "
                          "ORDER BY signal_id, webhook_id, attempt")


async def test_a_delivery_is_signed_over_its_exact_body_with_the_secret_the_registration_returned(
    settings: Settings
) -> None:
    wallet = Keypair()
    receiver = Receiver()
    async with receiver.serving(), running(settings, simulator=False) as runtime, \
            httpx.AsyncClient(base_url=runtime.api_url) as http:
        token = await sign_in(http, wallet)
        created = await http.post(f"/api/v1/accounts/{wallet.pubkey()}/webhooks", json={"url": receiver.url()},
                                  cookies={COOKIE: token})
        assert created.status_code == 201, created.text
        webhook = created.json()
        sent = signal("1", str(wallet.pubkey()))
        await publish(settings, sent)

        [(headers, body)] = await eventually(lambda: asyncio.sleep(0, receiver.got), what="the delivery")
        assert verify(webhook["secret"], body, headers["X-QuantDesk-Signature"])
        assert not verify(webhook["secret"], body + b"\n", headers["X-QuantDesk-Signature"])
        assert headers["X-QuantDesk-Signal-Id"] == headers["Idempotency-Key"] == sent[2]["id"]
        assert headers["X-QuantDesk-Webhook-Id"] == webhook["id"] and headers["Content-Type"] == "application/json"
        assert orjson.loads(body) == {**sent[2], "v": 1}

        async def recorded() -> list[dict]:
            return [r for r in attempts(runtime.warehouse) if r["delivered"]]
        [row] = await eventually(recorded, what="the delivery recorded")
        assert (row["signal_id"], row["webhook_id"], row["attempt"], row["status"]) == (sent[2]["id"], webhook["id"],
                                                                                       1, 200)


async def test_a_receiver_that_fails_twice_gets_the_same_signal_id_on_the_third_attempt(
    settings: Settings, warehouse: Warehouse
) -> None:
    settings = quick(settings)
    receiver = Receiver(statuses=(500, 503))
    async with receiver.serving(), dispatching(settings, warehouse):
        hook = await add_webhook(warehouse, A, receiver.url(), [], now_ms())
        sent = signal("1", A)
        await publish(settings, sent)
        await eventually(lambda: caught_up(settings), what="the delivery done")

    assert receiver.ids() == [sent[2]["id"]] * 3
    assert [h["X-QuantDesk-Attempt"] for h, _ in receiver.got] == ["1", "2", "3"]
    assert len({body for _, body in receiver.got}) == 1  # the same bytes, so the same signature
    assert [(r["webhook_id"], r["attempt"], r["status"], r["delivered"], r["error"]) for r in attempts(warehouse)] == [
        (hook["id"], 1, 500, False, "HTTP 500 Internal Server Error"),
        (hook["id"], 2, 503, False, "HTTP 503 Service Unavailable"),
        (hook["id"], 3, 200, True, "")]
    assert {r["ts"] for r in attempts(warehouse)} == {sent[2]["ts"]}  # the signal's event time


async def test_a_webhook_gets_only_its_own_wallets_account_signals_of_its_kinds(
    settings: Settings, warehouse: Warehouse
) -> None:
    settings = quick(settings)
    to_a, to_b, to_a_whales = Receiver(), Receiver(), Receiver()
    async with to_a.serving(), to_b.serving(), to_a_whales.serving():
        registered = now_ms()
        await add_webhook(warehouse, A, to_a.url(), [], registered)
        await add_webhook(warehouse, B, to_b.url(), [], registered)
        await add_webhook(warehouse, A, to_a_whales.url(), ["whale"], registered)
        events = [signal("a1", A), signal("b1", B), signal("m1", None), signal("m2", None, kind="whale"),
                  signal("a2", A, kind="whale"), signal("b2", B, kind="whale"), signal("old", A, ts=registered - 1),
                  signal("a3", A.lower())]  # a wallet that differs only in case is another wallet
        async with dispatching(settings, warehouse):
            await publish(settings, *events)
            await eventually(lambda: caught_up(settings), what="every signal handled")

    assert sorted(to_a.ids()) == ["health:" + f"{A}:0:a1", f"whale:{A}:0:a2"]
    assert sorted(to_b.ids()) == [f"health:{B}:0:b1", f"whale:{B}:0:b2"]
    assert to_a_whales.ids() == [f"whale:{A}:0:a2"]
    for receiver, wallet in ((to_a, A), (to_b, B), (to_a_whales, A)):
        assert all(orjson.loads(body)["wallet"] == wallet for _, body in receiver.got)
    assert all(r["delivered"] for r in attempts(warehouse)) and len(attempts(warehouse)) == 5


async def test_a_signal_published_twice_is_delivered_once(settings: Settings, warehouse: Warehouse) -> None:
    settings = quick(settings)
    receiver = Receiver(statuses=(500,))
    async with receiver.serving(), dispatching(settings, warehouse):
        await add_webhook(warehouse, A, receiver.url(), [], now_ms())
        twice = signal("1", A)
        await publish(settings, twice, twice)  # a producer that published it again (same id)
        await eventually(lambda: caught_up(settings), what="both messages handled")
        await publish(settings, twice)  # and once more, after it was delivered
        await eventually(lambda: caught_up(settings), what="the third message handled")
    assert receiver.ids() == [twice[2]["id"]] * 2  # a failed attempt, then the delivery: no third
    assert [(r["attempt"], r["delivered"]) for r in attempts(warehouse)] == [(1, False), (2, True)]


async def test_a_slow_receiver_holds_up_no_other_webhook(settings: Settings, warehouse: Warehouse) -> None:
    settings = quick(settings)
    slow, fast = Receiver(delay_s=3.0), Receiver()
    async with slow.serving(), fast.serving(), dispatching(settings, warehouse):
        await add_webhook(warehouse, A, slow.url(), [], now_ms())
        await add_webhook(warehouse, B, fast.url(), [], now_ms())
        await publish(settings, signal("a1", A), signal("b1", B))
        await eventually(lambda: asyncio.sleep(0, fast.got), timeout=2.5, what="the fast receiver's delivery")
        await eventually(lambda: asyncio.sleep(0, slow.got), timeout=2.5, what="the slow receiver's request")
        assert not await caught_up(settings)  # the slow one is still answering, and its offset is held
        await eventually(lambda: caught_up(settings), what="both deliveries done")


class Stalled(Dispatcher):
    """A dispatcher that fetches and plans, then never delivers: what a stop between the two leaves."""

    started: list[str] = []

    async def deliver(self, delivery: Delivery) -> None:
        self.started.append(delivery.signal.id)
        await asyncio.Event().wait()


async def test_a_dispatcher_stopped_after_fetching_and_before_delivering_delivers_after_its_restart(
    settings: Settings, warehouse: Warehouse
) -> None:
    settings = quick(settings)
    receiver = Receiver()
    async with receiver.serving():
        await add_webhook(warehouse, A, receiver.url(), [], now_ms())
        first, second = signal("1", A), signal("2", A)  # raised after the registration
        async with dispatching(settings, warehouse):
            await publish(settings, first)
            await eventually(lambda: caught_up(settings), what="the first delivery done")
        async with dispatching(settings, warehouse, Stalled):
            await publish(settings, second)
            await eventually(lambda: asyncio.sleep(0, Stalled.started), what="the second signal fetched")
            await asyncio.sleep(0.5)  # several rounds of commits
            assert not await caught_up(settings)  # its offset stays uncommitted while its delivery is not done
        assert receiver.ids() == [first[2]["id"]]
        async with dispatching(settings, warehouse):
            await eventually(lambda: caught_up(settings), what="the restarted dispatcher's delivery")
    assert receiver.ids() == [first[2]["id"], second[2]["id"]]  # delivered once each


async def test_a_dispatcher_reading_from_the_start_again_sends_nothing_already_delivered_or_given_up(
    settings: Settings, warehouse: Warehouse
) -> None:
    # a broker that forgot everything (embedded restart) gives the whole signal history again, without offsets
    settings = quick(settings, webhook_max_attempts=2)
    good, bad = Receiver(), Receiver(statuses=(500,) * 10)
    async with good.serving(), bad.serving():
        await add_webhook(warehouse, A, good.url(), [], now_ms())
        await add_webhook(warehouse, B, bad.url(), [], now_ms())
        async with dispatching(settings, warehouse):
            await publish(settings, signal("1", A), signal("1", B))
            await eventually(lambda: caught_up(settings), what="delivered once, given up on the other")
        assert len(good.got) == 1 and len(bad.got) == 2
        forgotten = settings.model_copy(update={"app_id": f"{settings.app_id}x"})  # a group with no offsets
        async with dispatching(forgotten, warehouse):
            await eventually(lambda: caught_up(forgotten), what="the history read again")
    assert len(good.got) == 1 and len(bad.got) == 2
    assert [(r["wallet"], r["attempt"], r["delivered"]) for r in attempts(warehouse)] == [
        (A, 1, True), (B, 1, False), (B, 2, False)]


async def test_the_address_is_checked_again_at_delivery_and_a_deleted_webhook_gets_no_more_attempts(
    settings: Settings, warehouse: Warehouse
) -> None:
    production = Settings(**{**dict(quick(settings, webhook_max_attempts=3)), "mode": "production",
                             "simulator_venue": False, "redis_url": "redis://127.0.0.1:6379/0",
                             "session_secret": SecretStr("a production secret for this test"),
                             "topic_replication": 3})
    receiver = Receiver()
    async with receiver.serving():
        # registered when its name resolved to a public address; it resolves to loopback now
        await add_webhook(warehouse, A, receiver.url(host="localhost"), [], now_ms())
        literal = await add_webhook(warehouse, B, receiver.url(), [], now_ms())
        async with dispatching(production, warehouse):
            await publish(production, signal("1", A), signal("1", B))
            await eventually(lambda: caught_up(production), what="every attempt used")
    assert receiver.got == []
    rows = attempts(warehouse)
    assert [(r["wallet"], r["attempt"], r["status"], r["delivered"]) for r in rows] == [
        (A, n, 0, False) for n in (1, 2, 3)] + [(B, n, 0, False) for n in (1, 2, 3)]
    assert all("loopback address" in r["error"] for r in rows), rows
    assert webhook_secret(production, literal["id"]) != webhook_secret(settings, literal["id"])

    settings = quick(settings, webhook_max_attempts=6, webhook_backoff_s=0.3)
    failing = Receiver(statuses=(500,) * 10)
    async with failing.serving():
        hook = await add_webhook(warehouse, A, failing.url(), [], now_ms())
        async with dispatching(settings, warehouse):
            await publish(settings, signal("2", A))
            await eventually(lambda: asyncio.sleep(0, failing.got), what="the first attempt")
            assert await remove_webhook(warehouse, A, hook["id"])
            await eventually(lambda: caught_up(settings), what="the delivery ended")
    assert len(failing.got) == 1



async def test_a_failing_warehouse_holds_the_delivery_and_its_offset_until_it_is_back(
    settings: Settings, warehouse: Warehouse
) -> None:
    settings, db = quick(settings), warehouse.database
    receiver = Receiver()
    async with receiver.serving(), dispatching(settings, warehouse):
        await add_webhook(warehouse, A, receiver.url(), [], now_ms())
        attempts(warehouse)
        warehouse.command(f"RENAME TABLE {db}.webhook_deliveries TO {db}.webhook_deliveries_away")
        await publish(settings, signal("1", A))
        await asyncio.sleep(1.0)
        assert receiver.got == [] and not await caught_up(settings)  # its records cannot be read: it waits
        warehouse.command(f"RENAME TABLE {db}.webhook_deliveries_away TO {db}.webhook_deliveries")
        await eventually(lambda: caught_up(settings), what="the delivery made, recorded and committed")
    assert [(r["attempt"], r["delivered"]) for r in attempts(warehouse)] == [(1, True)]
    assert len(receiver.got) == 1
