"""Unsigned program transactions with a fresh blockhash, for the gateway's `POST /api/v1/orders/build`.

The wallet signs client-side; no key reaches the server. Amounts are the program's integers.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from programs.builders import TxOptions, close_position_tx, deposit_native_sol_tx, open_position_tx
from quantdesk.ingest.rpc import RpcPool

BUILDERS: Mapping[str, Callable[..., str]] = {
    "open_position": open_position_tx,
    "close_position": close_position_tx,
    "deposit_native_sol": deposit_native_sol_tx,
}


@dataclass(frozen=True)
class UnsignedOrder:
    """A base64 v0 transaction with blank signatures, and how long its blockhash is good for."""

    transaction: str
    blockhash: str
    last_valid_block_height: int


async def build_unsigned(pool: RpcPool, program_id: Pubkey, kind: str, user: Pubkey, *,
                         compute_unit_limit: int = 200_000, compute_unit_price: int = 1_000,
                         **params: Any) -> UnsignedOrder:
    """Return an unsigned `kind` transaction for `user` (params as the builder in programs.builders takes)."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown order kind {kind!r}; choose from {sorted(BUILDERS)}")
    blockhash, last_valid = await pool.latest_blockhash()
    options = TxOptions(blockhash, compute_unit_limit, compute_unit_price, program_id=program_id)
    return UnsignedOrder(BUILDERS[kind](user, **params, options=options), str(blockhash), last_valid)
