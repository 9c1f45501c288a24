"""A real scrape: Debian's Prometheus, with a generated config and the alert rules, scrapes the running embedded
platform (gateway with both workers' families, ingest with its Pyth and Solana sources against fakes). Every metric a
panel or an alert rule reads has samples, every target is up, and every rule evaluates."""

import contextlib
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.embedded import running
from ops.alerts import ALERTS, GATEWAY_JOB
from quantdesk.broker import free_port
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.conftest import ROOT
from tests.ops.test_alerts import panel_expressions
from tests.streams.agents.test_accounts_pipeline import START_MS, crash
from tests.streams.sources.ingest.chain_kit import CHAIN_MARKETS, ETH_MARKET, trade
from tests.streams.sources.ingest.fake_hermes import FakeHermes
from tests.streams.sources.ingest.fake_solana import FakeSolana
from tests.waiting import eventually

INGEST_JOB = "quantdesk-ingest"
SERIES_NAME = re.compile(r"\b(?:gateway|worker|ingest)_[a-z_]+")
WALLET = "5ZWj7a1f8tWkjBESHKgrLmXshuXxqeY9SYcfbshpAqPG"


def read_names() -> set[str]:
    """Return every series name a panel or an alert rule reads (a histogram's `_bucket` as written)."""
    return {name for expr in [*panel_expressions(), *(a.expr for a in ALERTS)] for name in SERIES_NAME.findall(expr)}


def scrape_config(gateway: str, ingest: str) -> dict[str, Any]:
    """Return a Prometheus config scraping the gateway and the ingest service each second, with the alert rules."""
    def job(name: str, url: str) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": [url.split("//")[1].split("/")[0]]}]}
    return {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ROOT / "dashboards" / "alerts.yml")],
            "scrape_configs": [job(GATEWAY_JOB, gateway), job(INGEST_JOB, ingest)]}


@contextmanager
def prometheus_serving(binary: str, config: dict[str, Any], where: Path) -> Iterator[str]:
    """Run Prometheus on a free port with `config` until the block exits; yield its URL."""
    (where / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = subprocess.Popen([binary, f"--config.file={where / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                               f"--storage.tsdb.path={where / 'tsdb'}"],
                              stdout=subprocess.DEVNULL, stderr=(where / "prometheus.log").open("wb"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


async def api(url: str, path: str, **params: str) -> Any:
    """Return the `data` of a Prometheus HTTP API answer, None while the server is not up."""
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{url}/api/v1/{path}", params=params)
    except httpx.HTTPError:
        return None
    return answer.json()["data"] if answer.status_code == 200 else None


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSolana, FakeHermes]]:
    """Start a fake Solana node holding one ETH trade, and a fake Hermes."""
    node, hermes = await FakeSolana().start(), await FakeHermes().start()
    node.record(trade(0, price=3_000_000_000, market=ETH_MARKET))
    yield node, hermes
    await hermes.stop()
    await node.stop()


async def test_prometheus_scrapes_every_metric_the_panels_and_rules_read(
        settings: Settings, fakes: tuple[FakeSolana, FakeHermes], prometheus: str, tmp_path: Path) -> None:
    node, hermes = fakes
    settings = settings.model_copy(update={
        "solana_rpc_urls": (node.url,), "solana_ws_urls": (node.ws_url,), "hermes_url": hermes.ws_url,
        "chain_markets": CHAIN_MARKETS, "ingest_port": free_port()})
    wanted = read_names()
    assert len(wanted) >= 40, sorted(wanted)  # the panels and the rules, not an empty set that passes anyway
    missing = wanted

    async def all_scraped() -> bool:
        nonlocal missing
        missing = wanted - set(await api(url, "label/__name__/values") or ())
        return not missing
    async with running(settings, simulator=False, sources=("pyth", "solana")) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:  # a liquidation: its signals and fees
            await publisher.send(crash(WALLET, "SOL-PERP", START_MS))
        with prometheus_serving(prometheus, scrape_config(*runtime.metrics_urls), tmp_path) as url:
            with contextlib.suppress(AssertionError):  # what is missing is named below
                await eventually(all_scraped, timeout=90, interval=0.5, what="every metric scraped")
            up = (await api(url, "query", query="up"))["result"]
            rules = await eventually(lambda: evaluated(url), timeout=30, interval=0.5, what="every rule evaluated")
    assert missing == set(), f"no samples of {sorted(missing)}"
    assert {(r["metric"]["job"], r["value"][1]) for r in up} == {(GATEWAY_JOB, "1"), (INGEST_JOB, "1")}
    assert {r["name"]: r["health"] for r in rules} == {a.name: "ok" for a in ALERTS}


async def evaluated(url: str) -> list[dict[str, Any]] | None:
    """Return the alerting rules once Prometheus has evaluated each of them."""
    data = await api(url, "rules", type="alert")
    rules = [rule for group in (data or {}).get("groups", []) for rule in group["rules"]]
    done = rules and all(not r["lastEvaluation"].startswith("0001") for r in rules)  # Go's zero time: not yet
    return rules if done else None
