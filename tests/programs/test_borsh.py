"""Borsh codec: every IDL account and instruction round-trips; dispatch never guesses."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from programs.borsh import (
    BorshError,
    Codec,
    UnknownDiscriminator,
    decode_account,
    decode_instruction,
    encode_account,
    encode_instruction,
    idl_codec,
)
from programs.idl import default_idl
from tests.programs.programs_testkit import fields, values

IDL = default_idl()
CODEC = idl_codec(IDL)


@settings(max_examples=60, deadline=None)
@pytest.mark.parametrize("name", sorted(IDL.accounts))
@given(data=st.data())
def test_every_account_round_trips(name: str, data: st.DataObject) -> None:
    value = data.draw(values(CODEC, {"defined": {"name": name}}))
    raw = encode_account(name, value)
    assert raw[:8] == IDL.accounts[name].discriminator
    decoded = decode_account(raw)
    assert (decoded.name, decoded.value) == (name, value)
    assert encode_account(decoded.name, decoded.value) == raw


@settings(max_examples=60, deadline=None)
@pytest.mark.parametrize("name", sorted(IDL.instructions))
@given(data=st.data())
def test_every_instruction_round_trips(name: str, data: st.DataObject) -> None:
    args = data.draw(fields(CODEC, [{"name": f.name, "type": f.type} for f in IDL.instructions[name].args]))
    raw = encode_instruction(name, args)
    assert raw[:8] == IDL.instructions[name].discriminator
    decoded = decode_instruction(raw)
    assert (decoded.name, decoded.args) == (name, args)


SYNTHETIC = Codec(
    {
        "Pair": {"kind": "struct", "fields": ["i128", {"vec": "bytes"}]},
        "Shape": {
            "kind": "enum",
            "variants": [
                {"name": "Empty"},
                {"name": "Circle", "fields": [{"name": "r", "type": "u128"}]},
                {"name": "Line", "fields": [{"defined": {"name": "Pair"}}, {"option": "string"}]},
            ],
        },
        "Everything": {
            "kind": "struct",
            "fields": [
                {"name": "shapes", "type": {"vec": {"defined": {"name": "Shape"}}}},
                {"name": "grid", "type": {"array": [{"array": ["i8", 2]}, 3]}},
                {"name": "maybe", "type": {"option": {"option": "pubkey"}}},
                {"name": "flag", "type": "bool"},
                {"name": "small", "type": "i16"},
            ],
        },
    }
)


@settings(deadline=None)
@given(values(SYNTHETIC, {"defined": {"name": "Everything"}}))
def test_the_whole_type_grammar_round_trips(value: dict) -> None:
    desc = {"defined": {"name": "Everything"}}
    assert SYNTHETIC.decode(desc, SYNTHETIC.encode(desc, value)) == value


def test_known_layout() -> None:
    data = encode_instruction(
        "open_position", {"position_index": 3, "side": "Short", "size": 10, "leverage": 5, "entry_price": 100}
    )
    assert data.hex() == "87802f4d0f98f031" + "0300" + "01" + "0a00000000000000" + "0500" + "6400000000000000"
    assert SYNTHETIC.encode({"option": "string"}, "hé") == bytes([1, 3, 0, 0, 0, 0x68, 0xC3, 0xA9])


def test_unknown_discriminator_is_reported_with_its_hex() -> None:
    with pytest.raises(UnknownDiscriminator) as caught:
        decode_account(bytes.fromhex("0102030405060708") + b"\0" * 64)
    assert caught.value.discriminator == "0102030405060708"
    with pytest.raises(UnknownDiscriminator, match="instruction discriminator 00ff"):
        decode_instruction(b"\x00\xff")


def test_account_padding_is_ignored_but_truncation_is_not() -> None:
    value = {"total_deposits": 5, "total_withdrawals": 1, "is_active": True, "bump": 254}
    data = encode_account("ProtocolSolVault", value)
    assert decode_account(data + b"\0" * 32).value == value
    with pytest.raises(BorshError):
        decode_account(data[:-1])


@pytest.mark.parametrize(
    ("desc", "value"),
    [
        ("u8", 256),
        ("i8", -129),
        ("u64", -1),
        ("u16", True),
        ("bool", 1),
        ("string", b"x"),
        ("pubkey", str(Pubkey.default())),
        ({"array": ["u8", 2]}, [1]),
        ({"defined": {"name": "Shape"}}, "Square"),
        ({"defined": {"name": "Shape"}}, {"Empty": None, "Circle": {"r": 1}}),
        ({"defined": {"name": "Pair"}}, 7),
        ({"vec": "u8"}, None),
    ],
)
def test_values_of_the_wrong_shape_are_refused(desc: object, value: object) -> None:
    with pytest.raises(BorshError):
        SYNTHETIC.encode(desc, value)


@pytest.mark.parametrize(
    ("desc", "data"),
    [("bool", b"\x02"), ({"option": "u8"}, b"\x02\x00"), ({"defined": {"name": "Shape"}}, b"\x03"), ("u32", b"\0\0")],
)
def test_malformed_bytes_are_refused(desc: object, data: bytes) -> None:
    with pytest.raises(BorshError):
        SYNTHETIC.decode(desc, data)
