"""Mapping verified transactions to the platform's input messages (validated by the models)."""

import base64
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from programs.builders import TxOptions, deposit_native_sol_tx
from programs.events import (
    Event,
    FundingRateUpdated,
    LiquidationExecuted,
    OraclePriceUpdated,
    OrderFilled,
    OrderPlaced,
    PositionClosed,
    PositionOpened,
    event_log_line,
)
from streams.sources.ingest.chain_mapping import ChainContext, Mapped, map_transaction, scaled
from programs.pda import DEFAULT_PROGRAM_ID
from programs.verify import ExecutedInstruction, VerifiedTransaction, verify_transaction
from quantdesk.messages import AccountChange, DeadLetter, Fill, OracleTick, OrderEvent
from tests.programs.programs_testkit import get_transaction_result

PROGRAM = str(DEFAULT_PROGRAM_ID)
BUDGET = "ComputeBudget111111111111111111111111111111"
USER, ORDER, POSITION, BTC, UNKNOWN = (Pubkey.new_unique() for _ in range(5))
CTX = ChainContext(markets={str(BTC): "BTC-PERP"}, price_scale=6, sol_usd=Decimal("150"))
TS = 1_708_363_256
SIG = "5" * 88


def tx_with(*events: Event, logs: list[str] | None = None) -> VerifiedTransaction:
    """Return a verified transaction whose one program instruction logged `events`."""
    lines = [f"Program {PROGRAM} invoke [1]", *(event_log_line(e) for e in events), f"Program {PROGRAM} success"]
    program_ix = ExecutedInstruction(0, None, DEFAULT_PROGRAM_ID, (), b"")
    return VerifiedTransaction(SIG, 77, TS, "confirmed", (), (program_ix,), tuple(lines if logs is None else logs))


def only(messages: list[Mapped], topic: str) -> dict[str, Any]:
    """Return the single message, checking its topic."""
    (message,) = messages
    assert message.topic == topic, message
    return message.value


def test_order_filled_is_a_fill_with_scaled_integers() -> None:
    event = OrderFilled(USER, ORDER, BTC, "Short", 1_500_000, 51_000_250_000, 25_500, TS)
    fill = Fill.model_validate(only(map_transaction(tx_with(event), CTX), "trades.fills"))
    assert fill.id == f"{SIG}:0:0" and fill.ts == TS * 1000
    assert (fill.market, fill.wallet, fill.subaccount, fill.side) == ("BTC-PERP", str(USER), 0, "sell")
    assert (fill.size, fill.price, fill.fee) == (Decimal("1.5"), Decimal("51000.25"), Decimal("0.0255"))
    assert (fill.liquidity, fill.signature, fill.slot) == ("taker", SIG, 77)


def test_the_one_scale_parameter_drives_every_integer() -> None:
    event = OrderFilled(USER, ORDER, BTC, "Long", 1_500_000, 51_000_250_000, 25_500, TS)
    ctx = ChainContext(markets=CTX.markets, price_scale=8)
    fill = Fill.model_validate(only(map_transaction(tx_with(event), ctx), "trades.fills"))
    assert (fill.size, fill.price, fill.fee) == (Decimal("0.015"), Decimal("510.0025"), Decimal("0.000255"))
    assert scaled(-12_345, 2) == Decimal("-123.45")


def test_positions_are_order_events_with_trade_direction() -> None:
    opened = PositionOpened(USER, POSITION, BTC, "Long", 2_000_000, 50_000_000_000, 10, TS)
    closed = PositionClosed(USER, POSITION, BTC, "Long", 2_000_000, 51_000_000_000, 2_000_000_000, TS + 60)
    first, second = map_transaction(tx_with(opened, closed), CTX)
    o, c = OrderEvent.model_validate(first.value), OrderEvent.model_validate(second.value)
    assert first.topic == second.topic == "orders.events"
    assert (o.kind, o.side, o.size, o.price) == ("position_opened", "buy", Decimal(2), Decimal(50000))
    assert (o.id, first.value["leverage"], first.value["position"], first.value["position_side"]) == (
        f"{SIG}:0:0", 10, str(POSITION), "long",
    )  # fmt: skip
    assert (c.kind, c.side, c.price, c.ts) == ("position_closed", "sell", Decimal(51000), (TS + 60) * 1000)
    assert c.id == f"{SIG}:0:1"
    assert Decimal(second.value["program_pnl"]) == 2000


def test_order_placed_keeps_its_type() -> None:
    event = OrderPlaced(USER, ORDER, BTC, "Short", 1_000_000, 49_000_000_000, "StopLimit", TS)
    order = OrderEvent.model_validate(only(map_transaction(tx_with(event), CTX), "orders.events"))
    assert (order.kind, order.side, order.order_type, order.price) == ("placed", "sell", "StopLimit", Decimal(49000))


def test_oracle_price_is_a_tick() -> None:
    event = OraclePriceUpdated(BTC, 51_234_560_000, 12_500_000, TS)
    tick = OracleTick.model_validate(only(map_transaction(tx_with(event), CTX), "oracle.ticks"))
    assert (tick.market, tick.price, tick.conf) == ("BTC-PERP", Decimal("51234.56"), Decimal("12.5"))
    assert (tick.publish_time, tick.source, tick.slot) == (TS * 1000, "quantdesk-program", 77)


def test_liquidation_and_funding_are_risk_dicts() -> None:
    liquidation = LiquidationExecuted(USER, POSITION, BTC, 3_000_000, 45_000_000_000, 1_350_000, TS)
    funding = FundingRateUpdated(BTC, -125, TS)
    first, second = map_transaction(tx_with(liquidation, funding), CTX)
    assert first.topic == second.topic == "risk"
    assert first.value == {
        "id": f"{SIG}:0:0", "ts": TS * 1000, "v": 1, "kind": "liquidation_executed", "market": "BTC-PERP",
        "source": "chain", "wallet": str(USER), "position": str(POSITION), "size": "3.000000",
        "price": "45000.000000", "penalty": "1.350000", "signature": SIG, "slot": 77,
    }  # fmt: skip
    assert (second.value["kind"], second.value["rate"]) == ("funding_rate_updated", "-0.000125")
    assert second.value["id"] == f"{SIG}:0:1"


@pytest.mark.parametrize(
    ("event", "topic", "reason"),
    [
        (OrderFilled(USER, ORDER, UNKNOWN, "Long", 1, 1, 0, TS), "trades.fills", "not configured"),
        (OrderFilled(USER, ORDER, BTC, "Long", 0, 1, 0, TS), "trades.fills", "size"),
        (OraclePriceUpdated(BTC, 1, 1, -5), "oracle.ticks", "ts"),
    ],
)
def test_unmappable_events_go_to_the_dlq_with_the_reason(event: Event, topic: str, reason: str) -> None:
    dead = DeadLetter.model_validate(only(map_transaction(tx_with(event), CTX), "dlq"))
    assert (dead.id, dead.topic) == (f"{SIG}:0:0", topic)
    assert reason in dead.reason and dead.payload


def test_unreadable_and_truncated_logs_are_dead_letters() -> None:
    logs = [
        f"Program {PROGRAM} invoke [1]",
        "Program data: " + base64.b64encode(b"\x09" * 12).decode(),
        event_log_line(OraclePriceUpdated(BTC, 1_000_000, 0, TS)),
        "Log truncated",
    ]
    tick, unreadable, truncated = map_transaction(tx_with(logs=logs), CTX)
    assert tick.topic == "oracle.ticks" and tick.value["id"] == f"{SIG}:0:1"
    assert (unreadable.topic, unreadable.value["id"]) == ("dlq", f"{SIG}:0:0")
    assert "0909090909090909" in unreadable.value["reason"]
    assert truncated.topic == "dlq" and "truncated" in truncated.value["reason"]


def test_logs_that_do_not_match_the_message_are_refused_whole() -> None:
    logs = [
        f"Program {BUDGET} invoke [1]", event_log_line(OraclePriceUpdated(BTC, 1, 0, TS)), f"Program {BUDGET} success",
    ]  # fmt: skip
    dead = only(map_transaction(tx_with(logs=logs), CTX), "dlq")
    assert dead["id"] == f"{SIG}:logs" and "do not match" in dead["reason"]
    dead = only(map_transaction(tx_with(logs=[f"Program {PROGRAM} success"]), CTX), "dlq")
    assert "unparseable" in dead["reason"]


PAYER = Keypair()
USER_ACCOUNT, FEED = Pubkey.new_unique(), Pubkey.new_unique()


def verified_deposit(lamports: int, *events: Event) -> VerifiedTransaction:
    """Return a signed deposit_native_sol transaction, logged as the runtime would, verified."""
    options = TxOptions(Hash.new_unique(), 200_000, 1_000)
    raw = deposit_native_sol_tx(PAYER.pubkey(), USER_ACCOUNT, FEED, lamports=lamports, options=options)
    tx = VersionedTransaction(VersionedTransaction.from_bytes(base64.b64decode(raw)).message, [PAYER])
    logs = [
        f"Program {BUDGET} invoke [1]", f"Program {BUDGET} success",
        f"Program {BUDGET} invoke [1]", f"Program {BUDGET} success",
        f"Program {PROGRAM} invoke [1]", "Program log: Instruction: DepositNativeSol",
        "Program 11111111111111111111111111111111 invoke [2]", "Program 11111111111111111111111111111111 success",
        *(event_log_line(e) for e in events), f"Program {PROGRAM} success",
    ]  # fmt: skip
    return verify_transaction(get_transaction_result(tx, logs=logs), "finalized", set())


def test_deposit_end_to_end_from_a_signed_transaction() -> None:
    tx = verified_deposit(2_500_000_000, OraclePriceUpdated(BTC, 50_000_000_000, 0, TS))
    tick, deposit = map_transaction(tx, CTX)
    assert tick.value["id"] == f"{tx.signature}:2:0"
    change = AccountChange.model_validate(deposit.value)
    assert deposit.topic == "accounts.changes"
    assert (change.id, change.wallet, change.kind) == (f"{tx.signature}:2:ix", str(PAYER.pubkey()), "deposit")
    assert change.amount == Decimal(375)
    assert [deposit.value[k] for k in ("asset", "asset_amount", "asset_price")] == ["SOL", "2.5", "150"]
    assert (change.ts, change.signature, change.slot) == (1_708_363_256_000, tx.signature, 250_000_000)
    assert map_transaction(tx, CTX) == [tick, deposit]


def test_deposit_without_a_sol_price_is_a_dead_letter() -> None:
    tx = verified_deposit(1)
    dead = only(map_transaction(tx, ChainContext(markets={}, price_scale=6)), "dlq")
    assert dead["topic"] == "accounts.changes" and "SOL/USD" in dead["reason"]


def test_a_deposit_inside_a_cpi_keeps_its_inner_index() -> None:
    base = verified_deposit(1_000_000_000)
    (top,) = base.invoking(DEFAULT_PROGRAM_ID)
    router = Pubkey.new_unique()
    wrapped = (
        ExecutedInstruction(0, None, router, (), b""),
        ExecutedInstruction(0, 3, DEFAULT_PROGRAM_ID, top.accounts, top.data),
    )
    logs = (
        f"Program {router} invoke [1]", f"Program {PROGRAM} invoke [2]",
        f"Program {PROGRAM} success", f"Program {router} success",
    )  # fmt: skip
    tx = VerifiedTransaction(base.signature, base.slot, base.block_time, "confirmed", base.account_keys, wrapped, logs)
    change = only(map_transaction(tx, CTX), "accounts.changes")
    assert change["id"] == f"{base.signature}:0:ix3" and Decimal(change["amount"]) == 150


LOG_LINES = st.one_of(
    st.text(max_size=40),
    st.sampled_from((f"Program {PROGRAM} invoke [1]", f"Program {PROGRAM} invoke [2]", f"Program {PROGRAM} success",
                     f"Program {PROGRAM} failed: custom program error: 0x1", "Program log: Instruction: Deposit",
                     "Log truncated", f"Program {BUDGET} invoke [1]", f"Program {BUDGET} success")),
    st.binary(max_size=120).map(lambda b: "Program data: " + base64.b64encode(b).decode()),
    st.builds(lambda e, cut: event_log_line(e)[:cut], st.sampled_from((
        OrderFilled(USER, ORDER, BTC, "Short", 2**63, 2**64 - 1, 2**64 - 1, 2**62),
        OrderFilled(USER, ORDER, UNKNOWN, "Long", 1, 1, 0, 0),
        OraclePriceUpdated(BTC, 2**64 - 1, 0, TS), FundingRateUpdated(BTC, -(2**63), TS),
        PositionOpened(USER, POSITION, BTC, "Long", 2**64 - 1, 2**64 - 1, 2**16 - 1, TS))),
        st.integers(14, 400)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LOG_LINES, max_size=10), st.sampled_from((None, 0, TS, 2**40)))
def test_any_logs_of_a_verified_transaction_map_to_messages_or_dead_letters(logs: list[str],
                                                                           block_time: int | None) -> None:
    # the logs are the node's, outside the signed message: whatever they hold, mapping gives input messages the
    # boundary takes, or dead letters saying why, and never raises
    program_ix = ExecutedInstruction(0, None, DEFAULT_PROGRAM_ID, (), b"")
    tx = VerifiedTransaction(SIG, 77, block_time, "confirmed", (), (program_ix,), tuple(logs))
    for mapped in map_transaction(tx, CTX):
        model = {"trades.fills": Fill, "oracle.ticks": OracleTick, "orders.events": OrderEvent,
                 "accounts.changes": AccountChange, "dlq": DeadLetter}.get(mapped.topic)
        if model is not None:
            model.model_validate(mapped.value)
