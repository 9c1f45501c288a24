"""Pyth prices as `oracle.ticks`: the price account fixture read at a slot, the Hermes v2 fixture's feeds."""

from decimal import Decimal
from typing import Any

import pytest

from programs.pyth import decode_price_account
from quantdesk.messages import OracleTick
from quantdesk.settings import Settings
from streams.sources.ingest.pyth_mapping import account_tick, hermes_ticks
from tests.programs.test_pyth import BTC_FEED, LOCAL, hermes

FEED_MARKETS = {m.feed_id: m.name for m in Settings().markets}


@pytest.fixture(scope="module")
def aapl() -> Any:
    """Return the AAPL price account fixture decoded."""
    return decode_price_account((LOCAL / "price_account_aapl.bin").read_bytes())


def test_price_account_tick(aapl: Any) -> None:
    tick = OracleTick.model_validate(account_tick(aapl, "AAPL", aapl.aggregate_price_info.pub_slot + 51))
    assert (tick.price, tick.conf) == (Decimal("236.23373"), Decimal("0.14454"))
    assert (tick.status, tick.source) == ("unknown", "pyth-account")
    assert tick.publish_time == tick.ts == aapl.timestamp * 1000


def test_hermes_ticks_for_configured_markets() -> None:
    (tick,), refused = hermes_ticks(hermes()["data_v2"], FEED_MARKETS)
    model = OracleTick.model_validate(tick)
    assert model.market == "BTC-PERP"
    assert model.price == Decimal("51900.75917635") and model.conf == Decimal("26.61582364")
    assert model.publish_time == 1708363256000 and model.ts == 1708363257000
    assert model.id == f"pyth-hermes:{BTC_FEED}:1708363256000:125976528"
    assert not refused and hermes_ticks(hermes()["data_v2"], {"ff" * 32: "OTHER"}) == ([], {})
