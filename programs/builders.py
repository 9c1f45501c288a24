"""Unsigned transactions for the program's user instructions, for the client to sign.

Every transaction is a v0 message (address lookup tables optional) led by the compute-budget
limit and price instructions; signatures are left as placeholders (all zeros) and the whole
transaction is returned base64-encoded, the form wallets take for signing.
"""

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from programs.borsh import encode_instruction
from programs.idl import Idl, default_idl
from programs.pda import DEFAULT_PROGRAM_ID, derive_all


@dataclass(frozen=True)
class TxOptions:
    """How to wrap instructions: blockhash, compute budget, lookup tables and program."""

    recent_blockhash: Hash
    compute_unit_limit: int
    compute_unit_price_micro_lamports: int
    lookup_tables: Sequence[AddressLookupTableAccount] = ()
    program_id: Pubkey = DEFAULT_PROGRAM_ID


def build_instruction(
    name: str,
    accounts: Mapping[str, Pubkey],
    args: Mapping[str, Any],
    *,
    program_id: Pubkey = DEFAULT_PROGRAM_ID,
    idl: Idl | None = None,
) -> Instruction:
    """Return instruction `name` with its IDL accounts in order: fixed, derived or given."""
    idl = idl or default_idl()
    derived = derive_all(name, accounts, args, program_id=program_id, idl=idl)
    metas = []
    for item in idl.instructions[name].accounts:
        if item.address is not None:
            key = Pubkey.from_string(item.address)
        elif item.seeds is not None:
            key = derived[item.name]
            if accounts.get(item.name, key) != key:
                raise ValueError(f"{name}.{item.name} given {accounts[item.name]}, seeds give {key}")
        elif item.name in accounts:
            key = accounts[item.name]
        elif item.optional:
            key = program_id  # Anchor's marker for an absent optional account
        else:
            raise KeyError(f"{name} needs account {item.name}")
        metas.append(AccountMeta(key, item.signer, item.writable))
    return Instruction(program_id, encode_instruction(name, args, idl), metas)


def unsigned_transaction(payer: Pubkey, instructions: Sequence[Instruction], options: TxOptions) -> str:
    """Return a base64 v0 transaction of compute-budget + `instructions`, signatures blank."""
    budget = [
        set_compute_unit_limit(options.compute_unit_limit),
        set_compute_unit_price(options.compute_unit_price_micro_lamports),
    ]
    tables = list(options.lookup_tables)
    message = MessageV0.try_compile(payer, [*budget, *instructions], tables, options.recent_blockhash)
    blank = [Signature.default()] * message.header.num_required_signatures
    return base64.b64encode(bytes(VersionedTransaction.populate(message, blank))).decode()


def open_position_tx(
    user: Pubkey,
    user_account: Pubkey,
    market: Pubkey,
    *,
    position_index: int,
    side: str,
    size: int,
    leverage: int,
    entry_price: int,
    options: TxOptions,
) -> str:
    """Return an unsigned open_position transaction (on-chain integers, position PDA derived)."""
    args = {
        "position_index": position_index, "side": side, "size": size, "leverage": leverage, "entry_price": entry_price,
    }  # fmt: skip
    accounts = {"user": user, "user_account": user_account, "market": market}
    ix = build_instruction("open_position", accounts, args, program_id=options.program_id)
    return unsigned_transaction(user, [ix], options)


def close_position_tx(user: Pubkey, position: Pubkey, market: Pubkey, *, options: TxOptions) -> str:
    """Return an unsigned close_position transaction."""
    accounts = {"user": user, "position": position, "market": market}
    ix = build_instruction("close_position", accounts, {}, program_id=options.program_id)
    return unsigned_transaction(user, [ix], options)


def deposit_native_sol_tx(
    user: Pubkey, user_account: Pubkey, sol_usd_price_feed: Pubkey, *, lamports: int, options: TxOptions
) -> str:
    """Return an unsigned deposit_native_sol transaction (vault and collateral PDAs derived)."""
    accounts = {"user": user, "user_account": user_account, "sol_usd_price_feed": sol_usd_price_feed}
    ix = build_instruction("deposit_native_sol", accounts, {"amount": lamports}, program_id=options.program_id)
    return unsigned_transaction(user, [ix], options)
