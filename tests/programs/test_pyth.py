"""Pyth decoding against real fixtures: an on-chain v2 price account and Hermes v1/v2 payloads."""

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythclient.pythaccounts import PythPriceStatus

from programs.pyth import (
    PythDecodeError,
    aggregate_price,
    binary_mismatches,
    binary_prices,
    decode_price_account,
    parse_hermes,
    status_at,
)
from tests.conftest import LOCAL_FIXTURES, SHARED_FIXTURES, unavailable

LOCAL = LOCAL_FIXTURES / "pyth"
SHARED = SHARED_FIXTURES / "pyth"
BTC_FEED = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"


def hermes() -> dict[str, Any]:
    """Return the Hermes fixture (v1 under data_v1, v2 under data_v2)."""
    return json.loads((LOCAL / "hermes_price_updates.json").read_text())


@pytest.fixture(scope="module")
def aapl() -> Any:
    """Return the AAPL price account fixture decoded."""
    return decode_price_account((LOCAL / "price_account_aapl.bin").read_bytes())


@pytest.mark.parametrize("name", ["price_account_aapl.bin", "hermes_price_updates.json"])
def test_local_fixtures_are_the_shared_ones(name: str) -> None:
    if not SHARED.exists():
        unavailable("../shared/fixtures", "not beside the repository")
    assert (LOCAL / name).read_bytes() == (SHARED / name).read_bytes()


def test_price_account_fields(aapl: Any) -> None:
    assert aapl.exponent == -5
    assert aapl.num_components == 29 and len(aapl.price_components) == 29
    assert aapl.last_slot == 197635583
    assert aapl.valid_slot == 197635582
    assert aapl.max_latency == 50
    assert aggregate_price(aapl) == (Decimal("236.23373"), Decimal("0.14454"))
    assert aapl.aggregate_price_info.price_status is PythPriceStatus.TRADING
    assert aapl.min_publishers == 3


def test_price_account_goes_stale_after_max_latency(aapl: Any) -> None:
    pub_slot = aapl.aggregate_price_info.pub_slot
    assert status_at(aapl, pub_slot) == "trading"
    assert status_at(aapl, pub_slot + 50) == "trading"
    assert status_at(aapl, pub_slot + 51) == "unknown"


def test_price_account_refuses_other_data() -> None:
    data = (LOCAL / "price_account_aapl.bin").read_bytes()
    with pytest.raises(PythDecodeError, match="magic"):
        decode_price_account(b"\0" + data[1:])
    with pytest.raises(PythDecodeError, match="type 2"):
        decode_price_account(data[:8] + (2).to_bytes(4, "little") + data[12:])
    with pytest.raises(PythDecodeError, match="shorter"):
        decode_price_account(data[:10])


def test_hermes_v1() -> None:
    (price,) = parse_hermes(hermes()["data_v1"])
    assert price.feed_id == BTC_FEED
    assert (price.raw_price, price.raw_conf, price.expo) == (2920679499999, 509500001, -8)
    assert price.price == Decimal("29206.79499999") and price.conf == Decimal("5.09500001")
    assert price.publish_time_ms == 1708363256000 and price.slot == 85480034


def test_hermes_v2() -> None:
    (price,) = parse_hermes(hermes()["data_v2"])
    assert price.feed_id == BTC_FEED
    assert (price.raw_price, price.raw_conf, price.expo) == (5190075917635, 2661582364, -8)
    assert price.price == Decimal("51900.75917635") and price.conf == Decimal("26.61582364")
    assert price.publish_time_ms == 1708363256000 and price.received_ms == 1708363257000
    assert price.slot == 125976528


def test_hermes_v1_list_shape_and_0x_ids() -> None:
    entry = hermes()["data_v1"]
    entry["id"] = "0x" + entry["id"].upper()
    assert [p.feed_id for p in parse_hermes([entry, entry])] == [BTC_FEED, BTC_FEED]


def test_v2_json_agrees_with_its_binary_update() -> None:
    (inside,) = binary_prices(hermes()["data_v2"])
    assert (inside.feed_id, inside.raw_price, inside.raw_conf) == (BTC_FEED, 5190075917635, 2661582364)
    assert binary_mismatches(hermes()["data_v2"]) == []


def test_v1_fixture_json_disagrees_with_its_own_vaa() -> None:
    (inside,) = binary_prices(hermes()["data_v1"])
    assert (inside.raw_price, inside.publish_time_ms) == (2931999000000, 1690576635000)
    (mismatch,) = binary_mismatches(hermes()["data_v1"])
    assert "2920679499999e-8" in mismatch


def test_a_doctored_v2_price_is_caught() -> None:
    payload = copy.deepcopy(hermes()["data_v2"])
    payload["parsed"][0]["price"]["price"] = "5190075917636"
    assert len(binary_mismatches(payload)) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"parsed": [{"id": "zz", "price": {}}]},
        {"id": BTC_FEED},
        {"parsed": [{"id": BTC_FEED, "price": {"price": "x"}}]},
        7,
    ],
)
def test_malformed_hermes_payloads_are_refused(payload: Any) -> None:
    with pytest.raises(PythDecodeError):
        parse_hermes(payload)


def test_unreadable_binary_is_refused() -> None:
    with pytest.raises(PythDecodeError):
        binary_prices({"binary": {"encoding": "hex", "data": ["504e4155"]}, "parsed": []})


JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False,
                                                                                       allow_infinity=False)
                    | st.text(max_size=12), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(("id", "price", "conf", "expo", "publish_time", "metadata",
                                                       "parsed", "binary", "data", "encoding", "vaa", "slot")), inner,
                                      max_size=5), max_leaves=15)


@settings(max_examples=500, deadline=None)
@given(st.one_of(JSON, st.builds(lambda v: {**hermes()["data_v1"], "price": v}, JSON),
                 st.builds(lambda v: {**hermes()["data_v2"], "parsed": [v]}, JSON)))
def test_any_payload_is_read_or_refused_as_not_pyth_never_raising_anything_else(payload: Any) -> None:
    # a feed id that is no string, metadata that is a list, a price too big for an integer: each raised past the
    # source (AttributeError, OverflowError) and ended the Hermes stream
    for read in (parse_hermes, binary_mismatches):
        try:
            read(payload)
        except PythDecodeError:
            pass
