"""Transaction verification on real ed25519 signatures from generated keypairs."""

import base64
import copy
from typing import Any

import base58
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from programs.borsh import decode_instruction
from programs.builders import TxOptions, deposit_native_sol_tx
from programs.pda import DEFAULT_PROGRAM_ID
from programs.verify import VerificationError, verify_transaction
from tests.programs.programs_testkit import get_transaction_result

PAYER = Keypair()
USER_ACCOUNT, FEED = Pubkey.new_unique(), Pubkey.new_unique()
OPTIONS = TxOptions(Hash.new_unique(), 200_000, 1_000)
ENCODINGS = ["json", "base64"]


def signed_deposit(lamports: int = 1_000_000_000) -> VersionedTransaction:
    """Return a deposit_native_sol transaction signed by the payer."""
    unsigned = VersionedTransaction.from_bytes(
        base64.b64decode(deposit_native_sol_tx(PAYER.pubkey(), USER_ACCOUNT, FEED, lamports=lamports, options=OPTIONS))
    )
    return VersionedTransaction(unsigned.message, [PAYER])


def signed_transfer(legacy: bool = False) -> VersionedTransaction:
    """Return a plain SOL transfer, which does not touch the program."""
    ix = transfer(TransferParams(from_pubkey=PAYER.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=5))
    blockhash = Hash.new_unique()
    if legacy:
        return VersionedTransaction(Message.new_with_blockhash([ix], PAYER.pubkey(), blockhash), [PAYER])
    return VersionedTransaction(MessageV0.try_compile(PAYER.pubkey(), [ix], [], blockhash), [PAYER])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_valid_transaction_is_verified(encoding: str) -> None:
    tx = signed_deposit()
    verified = verify_transaction(get_transaction_result(tx, encoding=encoding), "confirmed", set())
    assert verified.signature == str(tx.signatures[0])
    assert verified.slot == 250_000_000 and verified.block_time == 1_708_363_256
    (deposit,) = verified.invoking(DEFAULT_PROGRAM_ID)
    assert (deposit.ix_index, deposit.inner_index) == (2, None)
    assert decode_instruction(deposit.data).args == {"amount": 1_000_000_000}
    assert deposit.accounts[:2] == (USER_ACCOUNT, PAYER.pubkey())
    assert verify_transaction(get_transaction_result(tx, encoding=encoding), "finalized", lambda s: False)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_tampered_signature_is_refused(encoding: str) -> None:
    tx = signed_deposit()
    flipped = bytearray(bytes(tx.signatures[0]))
    flipped[10] ^= 0x01
    tampered = VersionedTransaction.populate(tx.message, [Signature.from_bytes(bytes(flipped))])
    result = get_transaction_result(tampered, encoding=encoding)
    with pytest.raises(VerificationError, match="signature 0 .* does not verify"):
        verify_transaction(result, "confirmed", set())


def test_a_signature_by_another_key_is_refused() -> None:
    tx = signed_deposit()
    forged = VersionedTransaction.populate(tx.message, [Keypair().sign_message(to_bytes_versioned(tx.message))])
    with pytest.raises(VerificationError, match=f"does not verify for {PAYER.pubkey()}"):
        verify_transaction(get_transaction_result(forged), "confirmed", set())


def test_a_message_changed_after_signing_is_refused() -> None:
    result = get_transaction_result(signed_deposit(), encoding="json")
    program_ix = result["transaction"]["message"]["instructions"][2]
    data = bytearray(base58.b58decode(program_ix["data"]))
    data[8] ^= 0xFF  # a different deposit amount
    program_ix["data"] = base58.b58encode(bytes(data)).decode()
    with pytest.raises(VerificationError, match="does not verify"):
        verify_transaction(result, "confirmed", set())


def test_a_blank_signature_is_refused() -> None:
    unsigned = signed_deposit().message
    result = get_transaction_result(VersionedTransaction.populate(unsigned, [Signature.default()]))
    with pytest.raises(VerificationError, match="does not verify"):
        verify_transaction(result, "finalized", set())


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_failed_transaction_is_refused_with_the_program_error_named(encoding: str) -> None:
    err = {"InstructionError": [2, {"Custom": 6002}]}
    result = get_transaction_result(signed_deposit(), encoding=encoding, err=err)
    with pytest.raises(VerificationError, match=r"transaction failed: .*InsufficientCollateral"):
        verify_transaction(result, "finalized", set())
    result["meta"]["err"] = "AccountInUse"
    with pytest.raises(VerificationError, match="transaction failed: AccountInUse"):
        verify_transaction(result, "finalized", set())


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_another_program_s_transaction_is_refused(encoding: str, legacy: bool) -> None:
    result = get_transaction_result(signed_transfer(legacy), encoding=encoding)
    with pytest.raises(VerificationError, match=f"program {DEFAULT_PROGRAM_ID} was not invoked"):
        verify_transaction(result, "confirmed", set())


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_program_invoked_as_an_inner_instruction_counts(encoding: str) -> None:
    router = Pubkey.new_unique()
    loaded = Pubkey.new_unique()
    metas = [AccountMeta(PAYER.pubkey(), True, True), AccountMeta(DEFAULT_PROGRAM_ID, False, False)]
    ix = Instruction(router, b"\x07", metas)
    tx = VersionedTransaction(MessageV0.try_compile(PAYER.pubkey(), [ix], [], Hash.new_unique()), [PAYER])
    keys = [str(k) for k in tx.message.account_keys]
    program_index = keys.index(str(DEFAULT_PROGRAM_ID))
    cpi = {"programIdIndex": program_index, "accounts": [3, 0], "data": "3Bxs4Bc3", "stackHeight": 2}
    inner = [{"index": 0, "instructions": [cpi]}]
    loaded_addresses = {"writable": [], "readonly": [str(loaded)]}
    result = get_transaction_result(tx, encoding=encoding, inner=inner, loaded=loaded_addresses)
    verified = verify_transaction(result, "confirmed", set())
    (ran,) = verified.invoking(DEFAULT_PROGRAM_ID)
    assert (ran.ix_index, ran.inner_index, ran.accounts) == (0, 0, (loaded, PAYER.pubkey()))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_replayed_signature_is_refused(encoding: str) -> None:
    tx = signed_deposit()
    result = get_transaction_result(tx, encoding=encoding)
    seen = {str(tx.signatures[0])}
    with pytest.raises(VerificationError, match="seen before"):
        verify_transaction(result, "confirmed", seen)
    with pytest.raises(VerificationError, match="seen before"):
        verify_transaction(result, "confirmed", seen.__contains__)


@pytest.mark.parametrize("commitment", ["processed", "recent", ""])
def test_a_commitment_below_confirmed_is_refused(commitment: str) -> None:
    with pytest.raises(VerificationError, match="commitment"):
        verify_transaction(get_transaction_result(signed_deposit()), commitment, set())


def broken(mutate: Any) -> dict[str, Any]:
    """Return a valid result changed by `mutate`."""
    result = copy.deepcopy(get_transaction_result(signed_deposit()))
    mutate(result)
    return result


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (None, "not found"),
        (broken(lambda r: r.__setitem__("meta", None)), "no meta"),
        (broken(lambda r: r["transaction"].pop("signatures")), "malformed"),
        (broken(lambda r: r["transaction"]["message"]["accountKeys"].__setitem__(0, "not-a-key")), "malformed"),
        (broken(lambda r: r.__setitem__("transaction", ["AAAA", "base58"])), "unsupported transaction encoding"),
        (broken(lambda r: r["transaction"]["signatures"].append(str(Signature.default()))), "2 signatures, 1 required"),
        (broken(lambda r: r["transaction"]["message"].__setitem__("accountKeys", [])), "signer count mismatch"),
    ],
)
def test_malformed_results_are_refused_with_a_reason(result: Any, reason: str) -> None:
    with pytest.raises(VerificationError, match=reason):
        verify_transaction(result, "finalized", set())


ODD = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8),
                st.lists(st.integers(0, 300), max_size=3),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def paths(value: Any, at: tuple = ()) -> list[tuple]:
    """Return the path of every value inside a JSON-like result."""
    inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [at, *(p for key, child in inner for p in paths(child, (*at, key)))]


VALID = get_transaction_result(signed_deposit())
PATHS = paths(VALID)[1:]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), ODD), min_size=1, max_size=3))
@example([(("transaction", "message", "instructions", 0, "accounts"), 2**40)])  # bytes(2**40): a terabyte
@example([(("transaction", "message", "instructions", 0, "accounts"), list(range(256)) * 300)])  # a solders panic
@example([(("transaction", "message", "recentBlockhash"), "not a hash")])  # solders' ParseHashError
def test_a_result_of_any_shape_is_verified_or_refused_with_a_reason(changes: list[tuple[tuple, Any]]) -> None:
    # a node's answer is input: a value of another type anywhere raised past the ingest (OverflowError, solders'
    # ParseHashError; an integer for a list of indexes allocated that many bytes, or made solders panic) and stopped
    # its backfill at that transaction for ever
    result = copy.deepcopy(VALID)
    for path, value in changes:
        holder = result
        try:
            for key in path[:-1]:
                holder = holder[key]
            holder[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change took the path away
    try:
        verify_transaction(result, "finalized", set())
    except VerificationError:
        pass
