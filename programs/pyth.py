"""Pyth prices: on-chain v2 price accounts (decoded with pythclient) and Hermes price updates.

The ingest service maps both to `oracle.ticks` (`streams.sources.ingest.pyth_mapping`). Prices are `Decimal`: the integer mantissa scaled by the
feed's own exponent, never through a float.
"""

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pythclient.price_feeds import extract_price_info_from_accumulator_update
from pythclient.pythaccounts import (
    ACCOUNT_HEADER_BYTES,
    PythAccountType,
    PythPriceAccount,
)
from pythclient.solana import SolanaPublicKey

from programs import MALFORMED

PYTH_MAGIC = 0xA1B2C3D4
NULL_KEY = "11111111111111111111111111111111"


class PythDecodeError(ValueError):
    """Bytes or a payload that are not the Pyth data they claim to be."""


def decode_price_account(data: bytes, key: str = NULL_KEY) -> PythPriceAccount:
    """Decode a Pyth price account's data (header included) with pythclient."""
    if len(data) < ACCOUNT_HEADER_BYTES:
        raise PythDecodeError(f"{len(data)} bytes is shorter than a Pyth header")
    magic, version, kind, size = struct.unpack_from("<IIII", data)
    if magic != PYTH_MAGIC or version != 2 or kind != PythAccountType.PRICE.value or size > len(data):
        found = f"magic {magic:08x}, version {version}, type {kind}, size {size}"
        raise PythDecodeError(f"not a Pyth v2 price account ({found})")
    account = PythPriceAccount(SolanaPublicKey(key), None)
    account.update_from(data[:size], version=version, offset=ACCOUNT_HEADER_BYTES)
    return account


def aggregate_price(account: PythPriceAccount) -> tuple[Decimal, Decimal]:
    """Return the account's aggregate price and confidence, exactly."""
    info = account.aggregate_price_info
    return Decimal(info.raw_price).scaleb(info.exponent), Decimal(info.raw_confidence_interval).scaleb(info.exponent)


def status_at(account: PythPriceAccount, slot: int) -> str:
    """Return the aggregate status seen at `slot`: `unknown` once older than the max latency."""
    return account.get_aggregate_price_status_with_slot(slot).name.lower()


@dataclass(frozen=True)
class HermesPrice:
    """One feed's price from a Hermes update: raw integers, exact values and times."""

    feed_id: str
    raw_price: int
    raw_conf: int
    expo: int
    publish_time_ms: int
    received_ms: int
    slot: int

    @property
    def price(self) -> Decimal:
        """Return the price scaled by its exponent."""
        return Decimal(self.raw_price).scaleb(self.expo)

    @property
    def conf(self) -> Decimal:
        """Return the confidence scaled by its exponent."""
        return Decimal(self.raw_conf).scaleb(self.expo)


def feed_id(raw: str) -> str:
    """Return a feed id as 64 lowercase hex digits without 0x."""
    if not isinstance(raw, str):
        raise PythDecodeError(f"bad feed id {raw!r}")
    feed = raw.lower().removeprefix("0x")
    if len(feed) != 64 or any(c not in "0123456789abcdef" for c in feed):
        raise PythDecodeError(f"bad feed id {raw!r}")
    return feed


def _hermes_price(feed: Mapping[str, Any]) -> HermesPrice:
    """Return the price of one parsed feed entry (v1 or v2 shape)."""
    price, metadata = feed["price"], feed.get("metadata") or {}
    received = (
        metadata.get("price_service_receive_time") or metadata.get("proof_available_time") or price["publish_time"]
    )
    return HermesPrice(
        feed_id=feed_id(feed["id"]),
        raw_price=int(price["price"]),
        raw_conf=int(price["conf"]),
        expo=int(price["expo"]),
        publish_time_ms=int(price["publish_time"]) * 1000,
        received_ms=int(received) * 1000,
        slot=int(metadata.get("slot", 0)),
    )


def _entries(payload: Any) -> list[Mapping[str, Any]]:
    """Return the feed entries of a v2 update, a v1 feed or a v1 list of feeds."""
    if isinstance(payload, Mapping) and "parsed" in payload:
        return list(payload["parsed"])
    if isinstance(payload, Mapping):
        return [payload]
    return list(payload)


def parse_hermes(payload: Any) -> list[HermesPrice]:
    """Return every feed's price in a Hermes payload (v1 feed(s) or v2 update)."""
    try:
        return [_hermes_price(entry) for entry in _entries(payload)]
    except PythDecodeError:
        raise
    except MALFORMED as exc:
        raise PythDecodeError(f"malformed Hermes payload: {exc!r}") from exc


def _binary_updates(payload: Any) -> list[tuple[str, str]]:
    """Return the (update data, encoding) pairs a payload carries beside its JSON."""
    if isinstance(payload, Mapping) and "binary" in payload:
        return [(data, payload["binary"]["encoding"]) for data in payload["binary"]["data"]]
    return [(entry["vaa"], "base64") for entry in _entries(payload) if "vaa" in entry]


def binary_prices(payload: Any) -> list[HermesPrice]:
    """Return the prices inside the payload's accumulator update data, decoded with pythclient.

    This reads the Merkle messages; it does not check the Wormhole guardian signatures.
    """
    try:
        return [price for data, encoding in _binary_updates(payload) for price in _accumulated(data, encoding)]
    except PythDecodeError:
        raise
    except (*MALFORMED, struct.error) as exc:
        raise PythDecodeError(f"unreadable binary update: {exc!r}") from exc


def _accumulated(data: str, encoding: str) -> list[HermesPrice]:
    """Return the prices of one accumulator update."""
    infos = extract_price_info_from_accumulator_update(data, encoding)
    if infos is None:
        raise PythDecodeError("not an accumulator price update")
    return [_hermes_price({"id": feed["id"], "price": feed["price"]})
            for feed in (info.price_feed.to_dict() for info in infos)]


def binary_mismatches(payload: Any) -> list[str]:
    """Return how the payload's JSON prices disagree with its own binary update data."""
    signed = {(p.feed_id, p.raw_price, p.raw_conf, p.expo, p.publish_time_ms) for p in binary_prices(payload)}
    return [
        f"{p.feed_id}: JSON price {p.raw_price}e{p.expo} at {p.publish_time_ms} ms is not in the binary update"
        for p in parse_hermes(payload)
        if (p.feed_id, p.raw_price, p.raw_conf, p.expo, p.publish_time_ms) not in signed
    ]
