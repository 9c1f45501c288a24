"""Sign-In With Solana: the standard message text, its parser and the checks a sign-in passes.

The text is the one wallets build (EIP-4361 adapted to Solana, as the Solana wallet standard
writes it): a header naming the domain and the address, an optional statement, then
`Field: value` lines (URI, Version, Chain ID, Nonce, Issued At, Expiration Time, …).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import base58
from solders.pubkey import Pubkey
from solders.signature import Signature

from quantdesk.settings import Settings

NONCE_TTL = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)
STATEMENT = "Sign in to QuantDesk. This request costs nothing and moves no funds."
HEADER = re.compile(r"^(?P<domain>\S+) wants you to sign in with your Solana account:\n"
                    r"(?P<address>[1-9A-HJ-NP-Za-km-z]{32,44})")
FIELDS = {"URI": "uri", "Version": "version", "Chain ID": "chain_id", "Nonce": "nonce",
          "Issued At": "issued_at", "Expiration Time": "expiration_time", "Not Before": "not_before",
          "Request ID": "request_id"}


class SignInError(ValueError):
    """A sign-in the gateway refuses, with the reason a person can read; `kind` names the refusal for metrics."""

    kind = "malformed"  # not a SIWS message, or one not laid out as SIWS


class NotForUs(SignInError):
    """A message for another site, chain or wallet."""

    kind = "mismatch"


class OutOfTime(SignInError):
    """A message issued in the future or too long ago, expired or not yet valid."""

    kind = "time"


class BadSignature(SignInError):
    """A signature the wallet did not make over the message."""

    kind = "signature"


FAILURES = tuple(refusal.kind for refusal in (SignInError, NotForUs, OutOfTime, BadSignature))


@dataclass(frozen=True)
class SignInMessage:
    """The fields of a SIWS message."""

    domain: str
    address: str
    uri: str
    nonce: str
    issued_at: str
    chain_id: str = "mainnet"
    version: str = "1"
    statement: str = ""
    expiration_time: str = ""
    not_before: str = ""
    request_id: str = ""

    def text(self) -> str:
        """Return the message exactly as a wallet shows and signs it."""
        head = f"{self.domain} wants you to sign in with your Solana account:\n{self.address}"
        body = f"\n\n{self.statement}" if self.statement else ""
        lines = [f"{label}: {getattr(self, name)}" for label, name in FIELDS.items() if getattr(self, name)]
        return head + body + "\n\n" + "\n".join(lines)


def iso(moment: datetime) -> str:
    """Return a UTC time as ISO 8601 with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str, name: str) -> datetime:
    """Return an ISO 8601 time of the message, or refuse it."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SignInError(f"{name} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise SignInError(f"{name} has no time zone")
    return moment


def parse(text: str) -> SignInMessage:
    """Return the fields of a SIWS message text, or refuse a text that is not exactly one.

    Strict, as a signature over text two readers may read differently is worth nothing: the header, a blank
    line, an optional one-line statement and a blank line, then each field at most once in the standard order.
    """
    header = HEADER.match(text)
    if header is None:
        raise SignInError("not a Sign-In With Solana message")
    rest = text[header.end():]
    if not rest.startswith("\n\n"):
        raise SignInError("the message is not laid out as SIWS: a blank line must follow the address")
    blocks = rest[2:].split("\n\n")
    if len(blocks) > 2:
        raise SignInError("the message is not laid out as SIWS: one statement line, then the fields")
    statement = blocks[0] if len(blocks) == 2 else ""
    if "\n" in statement or (len(blocks) == 2 and not statement):
        raise SignInError("the statement must be a single line")
    fields = ordered_fields(blocks[-1].split("\n"))
    missing = {"uri", "version", "chain_id", "nonce", "issued_at"} - fields.keys()
    if missing:
        raise SignInError(f"the message lacks {', '.join(sorted(missing))}")
    return SignInMessage(domain=header["domain"], address=header["address"], statement=statement, **fields)


def ordered_fields(lines: list[str]) -> dict[str, str]:
    """Return the attribute names and values of `Label: value` lines, each label once and in the standard order."""
    order = list(FIELDS)
    fields: dict[str, str] = {}
    last = -1
    for line in lines:
        label, name, value = field_line(line)
        if name in fields:
            raise SignInError(f"the message repeats its {label} line")
        if order.index(label) < last:
            raise SignInError(f"the {label} line is out of order: fields go {', '.join(order)}")
        fields[name], last = value, order.index(label)
    return fields


def field_line(line: str) -> tuple[str, str, str]:
    """Return the label, attribute name and value of one `Label: value` line."""
    label, sep, value = line.partition(": ")
    if not sep or label not in FIELDS or not value:
        raise SignInError(f"unexpected line in the message: {line[:60]!r}")
    return label, FIELDS[label], value


def offer(settings: Settings, address: str, nonce: str, now: datetime) -> SignInMessage:
    """Return the message the gateway asks `address` to sign."""
    return SignInMessage(domain=settings.siws_domain, address=address, statement=STATEMENT, uri=settings.siws_uri,
                         chain_id=settings.chain_id, nonce=nonce, issued_at=iso(now),
                         expiration_time=iso(now + NONCE_TTL))


def check(settings: Settings, message: SignInMessage, address: str, now: datetime) -> None:
    """Refuse a message not addressed to this gateway and chain, by another wallet, or out of its time."""
    if message.domain != settings.siws_domain:
        raise NotForUs(f"the message is for domain {message.domain!r}, not {settings.siws_domain!r}")
    if message.uri != settings.siws_uri:
        raise NotForUs(f"the message is for URI {message.uri!r}, not {settings.siws_uri!r}")
    if message.address != address:
        raise NotForUs("the message names another address")
    if message.version != "1" or message.chain_id != settings.chain_id:
        raise NotForUs(f"the message must be version 1 on chain {settings.chain_id!r}")
    check_times(message, now)


def check_times(message: SignInMessage, now: datetime) -> None:
    """Refuse a message issued in the future or too long ago, expired, or not yet valid."""
    issued = parse_time(message.issued_at, "Issued At")
    if issued > now + CLOCK_SKEW:
        raise OutOfTime("the message was issued in the future")
    if issued < now - NONCE_TTL:
        raise OutOfTime("the message was issued more than 5 minutes ago")
    if message.expiration_time and parse_time(message.expiration_time, "Expiration Time") <= now:
        raise OutOfTime("the message has expired")
    if message.not_before and parse_time(message.not_before, "Not Before") > now + CLOCK_SKEW:
        raise OutOfTime("the message is not valid yet")


def verify_signature(address: str, text: str, signature: str) -> None:
    """Refuse a base58 ed25519 signature that `address` did not make over `text`."""
    try:
        key = Pubkey.from_string(address)
        raw = base58.b58decode(signature)
        signed = Signature.from_bytes(raw) if len(raw) == 64 else None
    except ValueError as exc:
        raise BadSignature("the address or the signature is not valid base58") from exc
    if signed is None or not signed.verify(key, text.encode()):
        raise BadSignature("the signature does not match the address and message")
