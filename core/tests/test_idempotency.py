"""Keys: derived sub-keys, their mapping onto gateways' fields, and how planning uses them."""

from __future__ import annotations

import string
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import smsgate
from smsgate import idempotency, phone, plan
from smsgate.errors import InvalidRecipientError, ValidationError

ALPHABET = string.digits + string.ascii_letters


def reference_alnum_key(key: str, length: int) -> str:
    """One base-62 digit of the digest at a time, lowest first: the definition."""
    value, out = idempotency._digest(key), []
    for _ in range(length):
        value, digit = divmod(value, 62)
        out.append(ALPHABET[digit])
    return "".join(out)


@given(st.text(), st.integers(min_value=1, max_value=43))
def test_alnum_key_is_the_digest_in_base_62_lowest_digit_first(key: str, length: int) -> None:
    assert idempotency.alnum_key(key, length) == reference_alnum_key(key, length)


def test_alnum_key_known_values() -> None:
    assert idempotency.alnum_key("k0/+48500000000", 32) == reference_alnum_key("k0/+48500000000", 32)
    assert [len(idempotency.alnum_key("x", n)) for n in (1, 2, 31, 43)] == [1, 2, 31, 43]
    with pytest.raises(ValueError):
        idempotency.alnum_key("x", 44)


def test_sub_key_joins_parts_with_slashes() -> None:
    assert idempotency.sub_key("k") == "k"
    assert idempotency.sub_key("k", "+48500600700") == "k/+48500600700"
    assert idempotency.sub_key("k", "p", 0, 200) == "k/p/0/200"


def test_normalise_many_checks_the_region_only_when_there_are_numbers() -> None:
    assert phone.normalise_many([], "XX") == ()
    with pytest.raises(ValidationError):
        phone.normalise_many(["+48500600700"], "XX")
    with pytest.raises(ValidationError):
        phone.normalise_many(["+48500600700", "+48500600701"], "XX")
    assert phone.normalise_many(("+48500600700", "500 600 701", "+48500600700"), "PL") == (
        "+48500600700",
        "+48500600701",
    )
    with pytest.raises(InvalidRecipientError):
        phone.normalise_many(["+48500600700", "12"], "PL")


def test_plan_keys_batches_and_items() -> None:
    gateway = smsgate.connect("outbox://user:secret@127.0.0.1:1?tls=false&batch_size=2")
    to = [f"+4850060070{i}" for i in range(5)]
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    p = plan.plan(smsgate.Message(to, "hi", key="k"), gateway.hooks, gateway.settings, gateway.options, now)
    assert [b.key for b in p.batches] == ["k/b0", "k/b1", "k/b2"]
    assert [b.index for b in p.batches] == [0, 1, 2]
    assert [i.key for b in p.batches for i in b.items] == [f"k/{r}" for r in to]
    one = plan.plan(smsgate.Message(to[:2], "hi", key="k"), gateway.hooks, gateway.settings, gateway.options, now)
    assert [(b.key, b.index, b.recipients) for b in one.batches] == [("k", 0, tuple(to[:2]))]
