"""Verify a fetched transaction before anything is taken from it.

Input is a `getTransaction` result (encoding `json` or `base64`) and the commitment it was fetched
at. A transaction is used only when every signature verifies over its message, the program was
invoked (top level or inner), `meta.err` is null, the commitment is at least `confirmed`, and its
signature has not been seen before. Recording the signature as seen is the caller's job, done when
what was taken from the transaction is stored.
"""

import base64
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import base58
from solders.errors import BincodeError
from solders.hash import Hash, ParseHashError
from solders.instruction import CompiledInstruction
from solders.message import Message, MessageAddressTableLookup, MessageHeader, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from programs import MALFORMED
from programs.idl import Idl, default_idl
from programs.pda import DEFAULT_PROGRAM_ID

COMMITMENT_RANK: Mapping[str, int] = {"processed": 0, "confirmed": 1, "finalized": 2}
MIN_COMMITMENT = "confirmed"
PACKET_BYTES = 1232  # the most a Solana transaction holds on the wire: any list or encoding in one is shorter

Seen = Container[str] | Callable[[str], bool]


class VerificationError(ValueError):
    """A transaction that must not be used, and why."""

    def __init__(self, reason: str) -> None:
        """Keep the reason for logs and dead letters."""
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExecutedInstruction:
    """An instruction that ran: its top-level index, its place among the inner ones, and content."""

    ix_index: int
    inner_index: int | None
    program_id: Pubkey
    accounts: tuple[Pubkey, ...]
    data: bytes


@dataclass(frozen=True)
class VerifiedTransaction:
    """A transaction that passed every check, with what later stages read from it."""

    signature: str
    slot: int
    block_time: int | None
    commitment: str
    account_keys: tuple[Pubkey, ...]
    instructions: tuple[ExecutedInstruction, ...]
    log_messages: tuple[str, ...]

    def invoking(self, program_id: Pubkey) -> tuple[ExecutedInstruction, ...]:
        """Return the instructions (top level and inner, in order) that ran `program_id`."""
        return tuple(ix for ix in self.instructions if ix.program_id == program_id)


def _indexes(value: Any, what: str) -> bytes:
    """Return a JSON list of account indexes as bytes; refuse anything else, or more than a transaction can hold
    (`bytes(n)` of an integer would make n zero bytes: a node could have it allocate petabytes)."""
    if not isinstance(value, list) or len(value) > PACKET_BYTES:
        raise VerificationError(f"{what} is not a list of at most {PACKET_BYTES} account indexes")
    return bytes(value)


def _encoded(value: Any, what: str) -> str:
    """Return an encoded field of a transaction; refuse a non-string, or one longer than a transaction can be
    (base58 decoding takes time quadratic in the length)."""
    if not isinstance(value, str) or len(value) > 2 * PACKET_BYTES:
        raise VerificationError(f"{what} is not a string of at most {2 * PACKET_BYTES} characters")
    return value


def _compiled(raw: Mapping[str, Any]) -> CompiledInstruction:
    """Return a compiled instruction from its JSON form (base58 data)."""
    return CompiledInstruction(raw["programIdIndex"], base58.b58decode(_encoded(raw["data"], "instruction data")),
                               _indexes(raw["accounts"], "an instruction's accounts"))


def _json_message(raw: Mapping[str, Any], version: Any) -> Message | MessageV0:
    """Rebuild the signed message from getTransaction's `json` encoding."""
    header = raw["header"]
    keys = [Pubkey.from_string(k) for k in raw["accountKeys"]]
    blockhash = Hash.from_string(raw["recentBlockhash"])
    instructions = [_compiled(ix) for ix in raw["instructions"]]
    counts = (
        header["numRequiredSignatures"], header["numReadonlySignedAccounts"], header["numReadonlyUnsignedAccounts"]
    )  # fmt: skip
    if version == "legacy" or version is None:
        return Message.new_with_compiled_instructions(*counts, keys, blockhash, instructions)
    lookups = [
        MessageAddressTableLookup(
            Pubkey.from_string(lookup["accountKey"]), _indexes(lookup["writableIndexes"], "writable indexes"),
            _indexes(lookup["readonlyIndexes"], "read-only indexes")
        )
        for lookup in raw.get("addressTableLookups") or []
    ]
    return MessageV0(MessageHeader(*counts), keys, blockhash, instructions, lookups)


def _message_and_signatures(result: Mapping[str, Any]) -> tuple[Message | MessageV0, list[Signature]]:
    """Return the message and its signatures from a result in `json` or `base64` encoding."""
    transaction = result["transaction"]
    if isinstance(transaction, Mapping):
        message = _json_message(transaction["message"], result.get("version"))
        return message, [Signature.from_string(s) for s in transaction["signatures"]]
    if isinstance(transaction, Sequence) and len(transaction) == 2 and transaction[1] == "base64":
        tx = VersionedTransaction.from_bytes(base64.b64decode(_encoded(transaction[0], "the transaction"),
                                                              validate=True))
        return tx.message, list(tx.signatures)
    raise VerificationError("unsupported transaction encoding (use json or base64)")


def _check_signatures(message: Message | MessageV0, signatures: list[Signature]) -> None:
    """Refuse unless each required signer's signature verifies over the message."""
    required = message.header.num_required_signatures
    if required == 0 or len(signatures) != required or len(message.account_keys) < required:
        counts = f"{len(signatures)} signatures, {required} required signers, {len(message.account_keys)} keys"
        raise VerificationError(f"signer count mismatch: {counts}")
    signed = to_bytes_versioned(message)
    for index, (signature, signer) in enumerate(zip(signatures, message.account_keys[:required], strict=True)):
        if not signature.verify(signer, signed):
            raise VerificationError(f"signature {index} ({signature}) does not verify for {signer}")


def _check_commitment(commitment: str) -> None:
    """Refuse a commitment below `confirmed`."""
    if commitment not in COMMITMENT_RANK:
        raise VerificationError(f"unknown commitment {commitment!r}")
    if COMMITMENT_RANK[commitment] < COMMITMENT_RANK[MIN_COMMITMENT]:
        raise VerificationError(f"commitment {commitment} is below {MIN_COMMITMENT}")


def _all_keys(message: Message | MessageV0, meta: Mapping[str, Any]) -> tuple[Pubkey, ...]:
    """Return static keys then the lookup-table keys the runtime loaded (writable, readonly)."""
    loaded = meta.get("loadedAddresses") or {}
    extra = [*loaded.get("writable", []), *loaded.get("readonly", [])]
    return (*message.account_keys, *(Pubkey.from_string(k) for k in extra))


def _executed(
    message: Message | MessageV0, meta: Mapping[str, Any], keys: tuple[Pubkey, ...]
) -> tuple[ExecutedInstruction, ...]:
    """Return top-level instructions each followed by its inner instructions, in order."""
    inner: dict[int, list[CompiledInstruction]] = {
        group["index"]: [_compiled(ix) for ix in group["instructions"]] for group in meta.get("innerInstructions") or []
    }
    out = []
    for index, ix in enumerate(message.instructions):
        for inner_index, compiled in [(None, ix), *enumerate(inner.get(index, []))]:
            accounts = tuple(keys[i] for i in compiled.accounts)
            program = keys[compiled.program_id_index]
            out.append(ExecutedInstruction(index, inner_index, program, accounts, compiled.data))
    return tuple(out)


def _failure(err: Any, instructions: tuple[ExecutedInstruction, ...], program_id: Pubkey, idl: Idl) -> str:
    """Describe `meta.err`, naming the program's own error code when it raised one."""
    reason = f"transaction failed: {err}"
    detail = err.get("InstructionError") if isinstance(err, Mapping) else None
    if isinstance(detail, list) and len(detail) == 2 and isinstance(detail[1], Mapping) and "Custom" in detail[1]:
        top = next((ix for ix in instructions if ix.ix_index == detail[0] and ix.inner_index is None), None)
        name = idl.errors.get(detail[1]["Custom"])
        if top is not None and top.program_id == program_id and name:
            reason += f" ({name})"
    return reason


def _was_seen(signature: str, seen: Seen) -> bool:
    """Return whether `signature` was seen before, asking a callable or a container."""
    return seen(signature) if callable(seen) else signature in seen


def _verify(
    result: Mapping[str, Any], commitment: str, seen: Seen, program_id: Pubkey, idl: Idl
) -> VerifiedTransaction:
    """Run every check in order; raise VerificationError at the first that fails."""
    message, signatures = _message_and_signatures(result)
    _check_signatures(message, signatures)
    _check_commitment(commitment)
    meta = result.get("meta")
    if meta is None:
        raise VerificationError("transaction has no meta: its outcome is unknown")
    keys = _all_keys(message, meta)
    instructions = _executed(message, meta, keys)
    if meta.get("err") is not None:
        raise VerificationError(_failure(meta["err"], instructions, program_id, idl))
    if not any(ix.program_id == program_id for ix in instructions):
        raise VerificationError(f"program {program_id} was not invoked")
    signature = str(signatures[0])
    if _was_seen(signature, seen):
        raise VerificationError(f"signature {signature} was seen before (replay)")
    return VerifiedTransaction(
        signature=signature,
        slot=int(result["slot"]),
        block_time=result.get("blockTime"),
        commitment=commitment,
        account_keys=keys,
        instructions=instructions,
        log_messages=tuple(meta.get("logMessages") or ()),
    )


def verify_transaction(
    result: Mapping[str, Any] | None,
    commitment: str,
    seen: Seen,
    *,
    program_id: Pubkey = DEFAULT_PROGRAM_ID,
    idl: Idl | None = None,
) -> VerifiedTransaction:
    """Return the transaction verified for use, or raise VerificationError with the reason."""
    if result is None:
        raise VerificationError("transaction not found")
    try:
        return _verify(result, commitment, seen, program_id, idl or default_idl())
    except VerificationError:
        raise
    except (*MALFORMED, BincodeError, ParseHashError) as exc:
        raise VerificationError(f"malformed transaction: {exc!r}") from exc
