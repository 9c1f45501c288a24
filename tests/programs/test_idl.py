"""The packaged IDL loads, and its discriminators agree with Anchor's derivation."""

import copy
import hashlib
import json

import pytest

from programs.idl import IDL_PATH, IdlError, default_idl, discriminator, parse_idl
from tests.conftest import SHARED_FIXTURES, unavailable

SHARED_IDL = SHARED_FIXTURES / "quantdesk" / "quantdesk_perp_dex.idl.json"


def test_packaged_idl_is_the_published_one() -> None:
    if not SHARED_IDL.exists():
        unavailable("../shared/fixtures", "not beside the repository")
    assert json.loads(IDL_PATH.read_text()) == json.loads(SHARED_IDL.read_text())


def test_discriminators_follow_anchor() -> None:
    idl = default_idl()
    assert idl.accounts["Position"].discriminator == hashlib.sha256(b"account:Position").digest()[:8]
    assert idl.instructions["open_position"].discriminator == bytes([135, 128, 47, 77, 15, 152, 240, 49])
    assert discriminator("event", "OrderFilled") == hashlib.sha256(b"event:OrderFilled").digest()[:8]


def test_contents() -> None:
    idl = default_idl()
    assert set(idl.instructions) >= {"open_position", "close_position", "deposit_native_sol"}
    assert set(idl.accounts) >= {"UserAccount", "Position", "Market", "CollateralAccount"}
    open_position = idl.instructions["open_position"]
    assert [a.name for a in open_position.accounts] == ["position", "user_account", "market", "user", "system_program"]
    assert [s.kind for s in open_position.accounts[0].seeds] == ["const", "account", "arg"]
    assert open_position.accounts[0].seeds[0].value == b"position"
    assert idl.errors[6002] == "InsufficientCollateral"


def test_lookup_by_discriminator() -> None:
    idl = default_idl()
    for name, account in idl.accounts.items():
        assert idl.account_by_discriminator(account.discriminator).name == name
    assert idl.instruction_by_discriminator(b"\0" * 8) is None


def test_contradicting_discriminator_is_refused() -> None:
    raw = json.loads(IDL_PATH.read_text())
    bad = copy.deepcopy(raw)
    bad["accounts"][0]["discriminator"] = [0] * 8
    with pytest.raises(IdlError, match="CollateralAccount"):
        parse_idl(bad)
    bad = copy.deepcopy(raw)
    bad["instructions"][1]["discriminator"][0] ^= 1
    with pytest.raises(IdlError, match="close_position"):
        parse_idl(bad)
