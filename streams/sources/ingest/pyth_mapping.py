"""Pyth prices as `oracle.ticks` messages: a price account read at a slot, or a Hermes update's feeds."""

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pythclient.pythaccounts import PythPriceAccount

from programs.pyth import aggregate_price, feed_id, parse_hermes, status_at
from quantdesk.messages import OracleTick, dump
from streams.decode import first_error


def account_tick(account: PythPriceAccount, market: str, slot: int) -> dict[str, Any]:
    """Return an OracleTick for a price account read at `slot`."""
    price, conf = aggregate_price(account)
    published_ms = account.timestamp * 1000
    tick = OracleTick(
        id=f"pyth-account:{account.key}:{account.aggregate_price_info.pub_slot}",
        ts=published_ms,
        market=market,
        price=price,
        conf=conf,
        publish_time=published_ms,
        status=status_at(account, slot),
        source="pyth-account",
        slot=account.aggregate_price_info.pub_slot,
    )
    return dump(tick)


def hermes_ticks(payload: Any, feed_markets: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Return OracleTicks for the payload's feeds that `feed_markets` (feed id -> market) names, and why each feed
    whose tick the input would refuse (a price of 0 or past its bound, a time out of range) was left out, by feed
    id."""
    markets = {feed_id(feed): market for feed, market in feed_markets.items()}
    ticks: list[dict[str, Any]] = []
    refused: dict[str, str] = {}
    for p in parse_hermes(payload):
        if p.feed_id not in markets:
            continue
        try:
            ticks.append(dump(OracleTick(
                id=f"pyth-hermes:{p.feed_id}:{p.publish_time_ms}:{p.slot}", ts=p.received_ms,
                market=markets[p.feed_id], price=p.price, conf=p.conf, publish_time=p.publish_time_ms,
                source="pyth-hermes", slot=p.slot)))
        except ValidationError as exc:
            refused[p.feed_id] = f"{markets[p.feed_id]}: {first_error(exc)}"
    return ticks, refused
