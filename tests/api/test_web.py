"""The terminal page in a real browser (Debian's chromium driven by Playwright) against the whole platform: live
prices, candle resolutions, Sign-In With Solana through an injected wallet, the account and an order ticket equal
to what REST answers, a killed WebSocket resynced, and the frame time with the simulator running."""

import re
import statistics
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from solders.keypair import Keypair

from api.embedded import Runtime, running
from api.status import wall_ms
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, served
from tests.conftest import unavailable
from tests.waiting import eventually

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError as missing:  # the test extras hold it; without them the tests cannot run
    async_playwright = None
    MISSING = str(missing)

CHROMIUM = "/usr/bin/chromium"
SOL = "SOL-PERP"
FRAME_SAMPLE_MS = 10_000
EXPONENT = re.compile(r"-?\d+(\.\d+)?E[+-]?\d+", re.IGNORECASE)  # a decimal as Python writes 0E-9
# A wallet provider as Phantom injects it: signMessage hands the bytes to the test's ed25519 key in Python.
WALLET = """(() => {
  const address = "%s";
  const publicKey = { toString: () => address, toBase58: () => address };
  window.solana = { publicKey, connect: async () => ({ publicKey }),
    signMessage: async (message) => ({ publicKey, signature: new Uint8Array(await window.testWalletSign(Array.from(message))) }) };
})();"""
# A Wallet Standard wallet (no window.solana): it registers when the app says it is ready, as the standard has it.
STANDARD_WALLET = """(() => {
  const address = "%s";
  const account = { address, publicKey: new Uint8Array(32), chains: ["solana:mainnet"], features: ["solana:signMessage"] };
  const sign = async ({ message }) => [{ signedMessage: message,
    signature: new Uint8Array(await window.testWalletSign(Array.from(message))) }];
  const wallet = { version: "1.0.0", name: "Test wallet", icon: "data:image/svg+xml;base64,", chains: ["solana:mainnet"],
    accounts: [account], features: { "standard:connect": { version: "1.0.0", connect: async () => ({ accounts: [account] }) },
      "solana:signMessage": { version: "1.0.0", signMessage: sign } } };
  const register = (api) => api.register(wallet);
  window.addEventListener("wallet-standard:app-ready", (event) => register(event.detail));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: register }));
})();"""
# Sampled in the page over a window of ms, for each requestAnimationFrame: the delta since the previous one, and the
# frame time, from the frame's start (rAF's timestamp) until the main thread is free again after the frame's
# scripts, style, layout and paint (a message posted in the callback runs then). Headless chromium draws at a
# fixed 60 Hz whatever the flags, so the deltas cannot fall below 16.7 ms: the frame time is what the page costs.
FRAMES = """(window) => new Promise((done) => {
  const deltas = [], times = []; const channel = new MessageChannel(); const starts = [];
  channel.port1.onmessage = () => times.push(performance.now() - starts.shift());
  let last = performance.now(); const end = last + window;
  const frame = (now) => {
    deltas.push(now - last); last = now; starts.push(now); channel.port2.postMessage(0);
    if (now < end) requestAnimationFrame(frame); else setTimeout(() => done({ deltas, times }), 100);
  };
  requestAnimationFrame(frame);
})"""
FRAME_BUDGET_MS = 16
DROPPED_MS = 25  # a delta past one and a half 60 Hz frames: a frame was dropped


@pytest.fixture
async def browser(built: None) -> AsyncIterator["Browser"]:
    """Return Debian's chromium under Playwright (`make chromium` installs it)."""
    if async_playwright is None:
        unavailable("playwright", MISSING)
    if not Path(CHROMIUM).is_file():
        unavailable("chromium", f"no {CHROMIUM}: `make chromium` installs Debian's package")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


async def publish(runtime: Runtime, events: list[tuple[str, str, dict]]) -> None:
    """Publish input events as the chain ingest would."""
    async with Publisher(runtime.settings, runtime.bootstrap) as publisher:
        await publisher.send(events)


def deposit(wallet: str, ts: int) -> tuple[str, str, dict]:
    """Return a deposit of 1000 USD."""
    return "accounts.changes", f"{wallet}:0", {"id": f"deposit:{wallet}", "ts": ts, "wallet": wallet,
                                               "kind": "deposit", "amount": "1000"}


def buy(taker: str, maker: str, ts: int, size: str, price: str) -> list[tuple[str, str, dict]]:
    """Return both sides of a SOL trade: the taker buys paying a fee, the maker sells for free."""
    fee = str(Decimal(size) * Decimal(price) * Decimal("0.0005"))
    return [("trades.fills", f"{who}:0", {"id": f"fill:{ts}:{who}", "ts": ts, "market": SOL, "wallet": who,
                                          "side": side, "size": size, "price": price, "fee": cost, "liquidity": role})
            for who, side, cost, role in ((taker, "buy", fee, "taker"), (maker, "sell", "0", "maker"))]


def as_shown(value: Any) -> str:
    """Return a figure as the page writes it: the exact decimal string in plain notation (0E-9 as 0.000000000), a
    dash for none."""
    if value is None:
        return "—"
    return format(Decimal(value), "f") if EXPONENT.fullmatch(str(value)) else str(value)


async def oracle_text(page: "Page", market: str) -> str:
    """Return the oracle price the strip shows for a market."""
    return await page.locator(f'#markets tr[data-market="{market}"] td[data-field="oracle"]').inner_text()


async def shown(page: "Page", scope: str) -> dict[str, str]:
    """Return the figures the page shows under a selector, by their `data-field`."""
    return await page.eval_on_selector_all(f"{scope} [data-field]",
                                           "nodes => Object.fromEntries(nodes.map(n => [n.dataset.field, n.textContent]))")


async def opened(browser: "Browser", runtime: Runtime | None = None, keypair: Keypair | None = None,
                 provider: str = WALLET) -> "Page":
    """Return a page in a new browser context; with a keypair, as the wallet `provider` the page finds."""
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    if keypair is not None:
        await context.expose_function("testWalletSign", lambda data: list(bytes(keypair.sign_message(bytes(data)))))
        await context.add_init_script(provider % keypair.pubkey())
    page = await context.new_page()
    return page


async def live_prices(page: "Page") -> str:
    """Wait until the strip shows SOL's oracle price, then until it changes; return the second price."""
    cell = f'#markets tr[data-market="{SOL}"] td[data-field="oracle"]'
    # functions, not expression strings: the page's CSP forbids eval, which Playwright uses for strings
    await page.wait_for_function("(cell) => /[0-9]/.test(document.querySelector(cell)?.textContent)", arg=cell,
                                 timeout=30_000)
    first = await oracle_text(page, SOL)
    await page.wait_for_function("([cell, first]) => document.querySelector(cell).textContent !== first",
                                 arg=[cell, first], timeout=30_000)
    return await oracle_text(page, SOL)


async def test_the_terminal_is_live_signs_in_prices_a_ticket_and_resyncs(
        settings: Settings, browser: "Browser", tmp_path: Path) -> None:
    keypair, maker = Keypair(), Keypair()
    wallet = str(keypair.pubkey())
    async with running(settings, simulator=True, rates=RELAXED) as runtime:
        await publish(runtime, [deposit(wallet, wall_ms()), deposit(str(maker.pubkey()), wall_ms())])
        page = await opened(browser, runtime, keypair)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        sockets: list[Any] = []

        def through(ws: Any) -> None:
            sockets.append((ws, ws.connect_to_server()))
        await page.route_web_socket(re.compile(r"/socket\.io/"), through)
        loaded = await page.goto(runtime.api_url + "/")
        assert loaded is not None and loaded.status == 200
        assert "script-src 'self'" in loaded.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in loaded.headers["content-security-policy"]
        assert loaded.headers["x-frame-options"] == "DENY"

        # live prices from the ticker channel
        await live_prices(page)
        await page.locator('#markets tr[data-market="BTC-PERP"] td[data-field="status"][data-status="healthy"]') \
            .wait_for(timeout=10_000)

        # candle resolutions: REST history of the chosen width, then live
        await page.wait_for_selector('#chart[data-loaded="1m"]', timeout=15_000)
        await page.click('button[data-resolution="5m"]')
        await page.wait_for_selector('#chart[data-loaded="5m"]', timeout=15_000)
        five = await page.request.get(f"{runtime.api_url}/api/v1/markets/{SOL}/candles",
                                      params={"resolution": "5m", "limit": 500})
        assert int(await page.get_attribute("#chart", "data-candles")) == len(await five.json()) > 0
        assert await page.get_attribute('button[data-resolution="5m"]', "class") == "selected"

        # sign in: the injected wallet signs the gateway's SIWS message; the cookie stays out of the page's reach
        await page.click("#sign-in")
        await page.wait_for_selector(f'#wallet[data-wallet="{wallet}"]', timeout=15_000)
        cookie = next(c for c in await page.context.cookies() if c["name"] == "qd_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert "qd_session" not in await page.evaluate("() => document.cookie")

        # a position: the wallet buys 2 SOL at the oracle; the account panel follows it live
        oracle = (await (await page.request.get(f"{runtime.api_url}/api/v1/markets")).json())[2]["oracle_price"]
        await publish(runtime, buy(wallet, str(maker.pubkey()), wall_ms(), "2", oracle))
        await page.wait_for_selector(f'#positions tr[data-market="{SOL}"]', timeout=30_000)
        await account_equals_rest(page, runtime, wallet)

        async def stored() -> list[dict]:
            entries = await (await page.request.get(f"{runtime.api_url}/api/v1/accounts/{wallet}/ledger")).json()
            return entries if {e["kind"] for e in entries} >= {"deposit", "fee"} else []
        ledger = await eventually(stored, what="the deposit and the fill's fee in the ledger")
        await page.wait_for_function("(n) => document.querySelectorAll('#ledger tr').length >= n", arg=len(ledger),
                                     timeout=15_000)
        assert {e["id"] for e in ledger} == set(await page.eval_on_selector_all(
            "#ledger tr", "rows => rows.map(r => r.dataset.id)"))

        # the ticket shows exactly what /orders/simulate answered, and a refusal's reason
        await page.select_option("#ticket-market", SOL)
        await page.fill('#ticket input[name="size"]', "1")
        async with page.expect_response("**/api/v1/orders/simulate") as answer:
            await page.click('#ticket button[type="submit"]')
        ticket = await (await answer.value).json()
        await page.wait_for_selector('#ticket-result[data-state="allowed"]', timeout=10_000)
        figures = await shown(page, "#ticket-result")
        for field in ("fill_price", "price_source", "slippage_bps", "fee", "fee_rate"):
            assert figures[field] == as_shown(ticket[field]), field
        for field in ("equity", "free_collateral", "health", "leverage", "liquidation_price", "initial_margin"):
            assert figures[f"after.{field}"] == as_shown(ticket["after"][field]), field
        assert figures["allowed"] == ticket["reason"]
        assert await page.locator("#ticket-route tr").count() == len(ticket["route"])
        await page.fill('#ticket input[name="size"]', "100000")
        async with page.expect_response("**/api/v1/orders/simulate") as answer:
            await page.click('#ticket button[type="submit"]')
        refused = await answer.value
        await page.wait_for_selector('#ticket-result[data-state="refused"]', timeout=10_000)
        body = await refused.json()
        reason = body["reason"] if refused.ok else body["error"]["message"]
        field = "allowed" if refused.ok else "refusal"
        assert (await shown(page, "#ticket-result"))[field] == reason
        await page.screenshot(path=tmp_path / "terminal.png", full_page=True)

        # the WebSocket dies: the stale badge shows, the page reconnects and resubscribes with since_seq (the count
        # grows by acks that carry `resync`, which only a subscription with since_seq gets)
        resyncs = int(await page.get_attribute("#link", "data-resyncs"))
        await page.evaluate("""() => { window.staleSeen = false; new MutationObserver(() => {
            if (!document.getElementById('stale').hidden) window.staleSeen = true; })
            .observe(document.getElementById('stale'), { attributes: true }); }""")
        for page_side, server_side in sockets:
            await page_side.close(code=4000, reason="test cut the line")
            await server_side.close()
        await page.wait_for_function("() => window.staleSeen", timeout=10_000)
        await page.screenshot(path=tmp_path / "terminal-stale.png")
        await page.wait_for_function("(n) => Number(document.getElementById('link').dataset.resyncs) > n",
                                     arg=resyncs, timeout=20_000)
        await page.wait_for_selector("#stale", state="hidden", timeout=20_000)
        assert await page.get_attribute("#link", "data-state") == "live"
        assert await page.get_attribute("#link", "data-resync") in ("deltas", "snapshot")
        await live_prices(page)
        await account_equals_rest(page, runtime, wallet)
        await page.screenshot(path=tmp_path / "terminal-resynced.png", full_page=True)

        # sign out: the account goes, the session is over
        await page.click("#sign-out")
        await page.wait_for_selector("#account", state="hidden", timeout=10_000)
        assert (await page.request.get(f"{runtime.api_url}/api/v1/auth/session")).status == 401
        print(f"screenshots: {tmp_path}")
        assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
        await page.context.close()


async def account_equals_rest(page: "Page", runtime: Runtime, wallet: str) -> None:
    """Wait until the account panel shows the figures REST answers for the wallet's sub-account 0 (both move with
    every oracle tick, so compared until one moment has them equal)."""
    keys = ("equity", "collateral", "free_collateral", "leverage", "health", "maintenance_margin", "initial_margin")
    last: tuple[Any, Any] = (None, None)
    for _ in range(100):
        sub = (await (await page.request.get(f"{runtime.api_url}/api/v1/accounts/{wallet}")).json())["subaccounts"][0]
        figures = await shown(page, "#account-figures")
        rows = await page.eval_on_selector_all("#positions tr", """rows => rows.map(r => Object.fromEntries(
            [...r.querySelectorAll('[data-field]')].map(c => [c.dataset.field, c.textContent])))""")
        rest = ({k: as_shown(sub[k]) for k in keys}, [{k: as_shown(p[k]) for k in ("size", "entry_price", "upnl",
                                                                           "liquidation_price")} for p in sub["positions"]])
        last = (rest, ({k: figures.get(k) for k in keys}, rows))
        if last[0] == last[1]:
            return
        await page.wait_for_timeout(100)
    raise AssertionError(f"the account panel never showed what REST answers: {last}")


async def test_a_wallet_standard_wallet_signs_in(settings: Settings, warehouse: Warehouse, browser: "Browser") -> None:
    keypair = Keypair()  # the gateway alone, on a migrated warehouse: signing in needs no broker
    async with served(settings, None, RELAXED) as url:
        page = await opened(browser, keypair=keypair, provider=STANDARD_WALLET)
        await page.goto(url + "/")
        await page.wait_for_selector('#markets tr[data-market="SOL-PERP"]', timeout=15_000)
        await page.click("#sign-in")
        await page.wait_for_selector(f'#wallet[data-wallet="{keypair.pubkey()}"]', timeout=15_000)
        session = await page.request.get(url + "/api/v1/auth/session")
        assert session.ok and (await session.json())["wallet"] == str(keypair.pubkey())
        await page.context.close()


async def test_median_frame_time_with_the_simulator_running(settings: Settings, browser: "Browser",
                                                            tmp_path: Path) -> None:
    async with running(settings, simulator=True, rates=RELAXED) as runtime:
        page = await opened(browser, runtime)
        await page.goto(runtime.api_url + "/")
        await live_prices(page)
        sample = await page.evaluate(FRAMES, FRAME_SAMPLE_MS)
        await live_prices(page)  # still live after the sample
        await page.context.close()
    median, interval = statistics.median(sample["times"]), statistics.median(sample["deltas"])
    dropped = sum(d > DROPPED_MS for d in sample["deltas"]) / len(sample["deltas"])
    figure = (f"terminal median frame time {median:.2f} ms, median frame interval {interval:.2f} ms, "
              f"{dropped:.1%} of {len(sample['deltas'])} frames dropped, over 10 s with the simulator running")
    (tmp_path / "frame-time.txt").write_text(figure + "\n")
    print(figure)
    # the page kept drawing: 10 frames a second at least. How many of the 600 a 60 Hz screen shows are drawn depends
    # on the machine's load too (274, 17.5 % dropped, beside the rest of the suite on 2 cores); the page's own cost is
    # the frame time, and the median interval says most frames came at 60 Hz
    assert len(sample["deltas"]) > 100, figure
    assert median <= FRAME_BUDGET_MS, figure
    assert interval <= DROPPED_MS, figure
