"""Idempotency keys and their mapping onto gateways' own fields.

Every message has a key: the caller's (``Message.key``, e.g. an order id, which makes resends
after a crash safe) or a random one drawn once per send, the same on every attempt. The core
derives sub-keys for batches and recipients; plugins map a key onto their gateway's field with
``int_key`` (a bounded integer such as BulkSMS ``stop_dup_id``) or ``alnum_key``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Iterator

import attrs

from smsgate.models import Message, message_digest

_ALPHABET = string.digits + string.ascii_letters
#: Every two-digit base-62 number as its two characters, lowest digit first (3844 entries):
#: ``alnum_key`` takes four digits a (big-integer) division, then two at a time from this table.
_PAIRS = tuple(low + high for high in _ALPHABET for low in _ALPHABET)
_PAIR, _QUAD = 62**2, 62**4


def new_key() -> str:
    """A fresh random key (128 random bits, hex)."""
    return os.urandom(16).hex()


def sub_key(key: str, *parts: object) -> str:
    """A key derived from ``key`` and ``parts``: stable, distinct per ``parts``."""
    for part in parts:
        key = f"{key}/{part!s}"
    return key


def _digest(key: str) -> int:
    import hashlib  # here, not at the top: discovery does not need it

    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")


def int_key(key: str, low: int = 1, high: int = 2**31 - 1) -> int:
    """``key`` mapped onto an integer in ``[low, high]`` (stable, uniformly spread)."""
    if high < low:
        raise ValueError("high must not be below low")
    return low + _digest(key) % (high - low + 1)


def alnum_key(key: str, length: int = 24) -> str:
    """``key`` mapped onto ``length`` characters of ``[0-9A-Za-z]`` (stable)."""
    if not 1 <= length <= 43:
        raise ValueError("length must be from 1 to 43")
    value, out = _digest(key), []
    for _ in range(length // 4):  # the base-62 digits of the digest, lowest first, four a division
        value, quad = divmod(value, _QUAD)
        out.append(_PAIRS[quad % _PAIR])
        out.append(_PAIRS[quad // _PAIR])
    if length & 2:  # two more
        value, pair = divmod(value, _PAIR)
        out.append(_PAIRS[pair])
    if length % 2:
        out.append(_ALPHABET[value % 62])
    return "".join(out)


def content_key(message: Message, occurrence: int = 0) -> str:
    """A key derived from ``message``'s content (recipients as given, text, sender, send time,
    flash, options) and ``occurrence``: the how-many-th identical message of an input this is.
    Re-running the same input derives the same keys, so a journal recognises what was sent;
    a deliberate repeat in the input is a new occurrence, hence a new key."""
    return f"c-{message_digest(message)}-{occurrence}"


def with_content_keys(messages: Iterable[Message]) -> Iterator[Message]:
    """``messages`` with a :func:`content_key` for each one that has no key of its own."""
    seen: dict[str, int] = {}
    for message in messages:
        if message.key:
            yield message
            continue
        digest = message_digest(message)
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        yield attrs.evolve(message, key=f"c-{digest}-{n}")
