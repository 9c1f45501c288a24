"""Test helpers for `programs`: value strategies from IDL descriptors, getTransaction results."""

import base64
from collections.abc import Mapping
from typing import Any

import base58
from hypothesis import strategies as st
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from programs.borsh import INTEGERS, Codec
from programs.idl import TypeDesc

PUBKEYS = st.binary(min_size=32, max_size=32).map(Pubkey.from_bytes)


def integers(kind: str) -> st.SearchStrategy[int]:
    """Return every integer an IDL integer type can hold."""
    size, signed = INTEGERS[kind]
    bits = 8 * size
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else st.integers(0, 2**bits - 1)


PRIMITIVES: Mapping[str, st.SearchStrategy[Any]] = {
    **{kind: integers(kind) for kind in INTEGERS},
    "bool": st.booleans(),
    "string": st.text(max_size=40),
    "bytes": st.binary(max_size=40),
    "pubkey": PUBKEYS,
}


def values(codec: Codec, desc: TypeDesc) -> st.SearchStrategy[Any]:
    """Return a strategy for any value of type `desc`."""
    if isinstance(desc, str):
        return PRIMITIVES[desc]
    if "vec" in desc:
        return st.lists(values(codec, desc["vec"]), max_size=4)
    if "option" in desc:
        return st.none() | values(codec, desc["option"])
    if "array" in desc:
        item, length = desc["array"]
        return st.lists(values(codec, item), min_size=length, max_size=length)
    definition = codec.definition(desc)
    if definition["kind"] == "struct":
        return fields(codec, definition.get("fields", []))
    return st.one_of(*(variant(codec, v) for v in definition["variants"]))


def fields(codec: Codec, field_list: list[Any]) -> st.SearchStrategy[Any]:
    """Return a strategy for named fields (a dict) or tuple fields (a list)."""
    if not field_list or (isinstance(field_list[0], dict) and "name" in field_list[0]):
        return st.fixed_dictionaries({f["name"]: values(codec, f["type"]) for f in field_list})
    return st.tuples(*(values(codec, d) for d in field_list)).map(list)


def variant(codec: Codec, raw: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Return a strategy for one enum variant's values."""
    if not raw.get("fields"):
        return st.just(raw["name"])
    return fields(codec, raw["fields"]).map(lambda f: {raw["name"]: f})


def ui_message(message: Message | MessageV0) -> dict[str, Any]:
    """Return a message the way getTransaction's `json` encoding shows it."""
    header = message.header
    ui: dict[str, Any] = {
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "accountKeys": [str(k) for k in message.account_keys],
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [
            {
                "programIdIndex": ix.program_id_index,
                "accounts": list(ix.accounts),
                "data": base58.b58encode(ix.data).decode(),
                "stackHeight": None,
            }
            for ix in message.instructions
        ],
    }
    if isinstance(message, MessageV0):
        ui["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(lookup.writable_indexes),
                "readonlyIndexes": list(lookup.readonly_indexes),
            }
            for lookup in message.address_table_lookups
        ]
    return ui


def get_transaction_result(
    tx: VersionedTransaction,
    *,
    encoding: str = "json",
    err: Any = None,
    logs: list[str] | None = None,
    inner: list[dict[str, Any]] | None = None,
    loaded: Mapping[str, list[str]] | None = None,
    slot: int = 250_000_000,
    block_time: int = 1_708_363_256,
) -> dict[str, Any]:
    """Return a getTransaction `result` for a signed transaction, as an RPC node would."""
    message = tx.message
    if encoding == "json":
        transaction: Any = {"signatures": [str(s) for s in tx.signatures], "message": ui_message(message)}
    else:
        transaction = [base64.b64encode(bytes(tx)).decode(), "base64"]
    return {
        "slot": slot,
        "blockTime": block_time,
        "version": 0 if isinstance(message, MessageV0) else "legacy",
        "transaction": transaction,
        "meta": {
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "fee": 5000,
            "logMessages": logs or [],
            "innerInstructions": inner or [],
            "loadedAddresses": dict(loaded or {"writable": [], "readonly": []}),
        },
    }


def message_bytes(tx: VersionedTransaction) -> bytes:
    """Return the bytes a transaction's signers sign."""
    return to_bytes_versioned(tx.message)
