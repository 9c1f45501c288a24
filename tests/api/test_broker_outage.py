"""A broker gone silent: a decision the gateway must record (an admin's command, an order ticket) answers 503 with the
reason within the publish timeout, never a 500 or a hang, and goes through again once the broker answers."""

import signal
from contextlib import AsyncExitStack

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.broker import BrokerError, EmbeddedBroker
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, served
from tests.api.scraped import scrape
from tests.api.signing import sign_in
from tests.conftest import unavailable
from tests.waiting import eventually

SOL = "SOL-PERP"


async def test_a_silent_broker_makes_decisions_503_and_they_go_through_once_it_answers(settings: Settings) -> None:
    admin, trader = Keypair(), Keypair()
    try:
        broker = EmbeddedBroker().start()  # the test's own, to freeze
    except BrokerError as exc:
        unavailable("a Tansu broker of the test's own", str(exc))
    assert broker.process is not None
    settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "publish_timeout_s": 1.0,
                                           "admin_wallets": (str(admin.pubkey()),)})
    try:
        async with AsyncExitStack() as stack:
            base = await stack.enter_async_context(served(settings, broker.bootstrap, RELAXED))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=20))
            boss, plain = await sign_in(http, admin), await sign_in(http, trader)  # each sign-in recorded
            http.cookies.clear()

            broker.process.send_signal(signal.SIGSTOP)
            paused = await http.post(f"/api/v1/admin/markets/{SOL}/pause", json={"reason": "drill"},
                                     cookies={COOKIE: boss})
            ticket = await http.post("/api/v1/orders/simulate", json={"market": SOL, "side": "buy", "size": "1"},
                                     cookies={COOKIE: plain})
            for answer in (paused, ticket):
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "5"
                assert answer.json()["error"] == {"code": "unavailable", "message": (
                    "the broker did not take this request's record within 1 s (TimeoutError): retry once it answers")}
            assert (await scrape(http)).value("gateway_unreachable_total", part="broker") == 2

            broker.process.send_signal(signal.SIGCONT)

            async def taken() -> bool:
                again = await http.post(f"/api/v1/admin/markets/{SOL}/pause", json={"reason": "drill"},
                                        cookies={COOKIE: boss})
                return again.status_code == 202
            await eventually(taken, timeout=30, what="the command taken once the broker answers", interval=0.5)
    finally:
        broker.process.send_signal(signal.SIGCONT)
        broker.stop()
