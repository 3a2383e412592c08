"""Matching the gateway's ``phone`` (and ``unique_id``) in a reply back to a batch's recipients.

The gateway "corrects" every number and writes it "in full format ... or the country code (eg.
48) at the beginning" (seed 001): ``+48500600700``, ``48500600700``, and other spellings are
possible (``0048500600700``, the national ``500600700``, spaces, a JSON number). We send E.164,
so reply items are matched in passes, an earlier pass taking precedence:

1. the item's ``unique_id``, when the gateway echoes it (not documented, but unambiguous), or
   its digits equal to one recipient's digits (after dropping a ``00`` international prefix);
2. a phone written without ``+``, of at least 7 digits, that ends exactly one recipient not
   matched yet, the rest being a 1-3 digit country code (the national spelling ``500600700``);
3. a batch of one recipient whose reply has one item with a status but without any phone.

Anything else is not one of the batch's recipients (a panel group's member, a wrong number
echoed as given): it keeps the gateway's spelling and the core leaves it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smsgate.models import Batch
from smsgate_serwersms.request import unique_id

#: The fewest digits a national spelling may have to be matched by its ending.
MIN_NATIONAL_DIGITS = 7


def digits(value: str) -> str:
    return "".join(c for c in value if "0" <= c <= "9")


def phone_text(phone: Any) -> str | None:
    """A reply's ``phone`` as text (a string, or a JSON number); ``None`` when absent."""
    if isinstance(phone, bool) or phone is None:
        return None
    if isinstance(phone, float) and phone.is_integer():
        phone = int(phone)
    if isinstance(phone, (str, int)):
        text = str(phone).strip()
        return text or None
    return None


def e164(phone: Any) -> str | None:
    """A reply's phone as ``+digits`` when it is plainly international (``+48...``,
    ``0048...``, or 11 to 15 digits without a leading zero); else as the gateway wrote it."""
    text = phone_text(phone)
    if text is None:
        return None
    compact = text.replace(" ", "").replace("-", "")
    if compact.startswith("+"):
        number, explicit = compact[1:], True
    elif compact.startswith("00"):
        number, explicit = compact[2:], True
    else:
        number, explicit = compact, False
    shortest = 8 if explicit else 11
    if number.isascii() and number.isdigit() and shortest <= len(number) <= 15 and number[0] != "0":
        return "+" + number
    return text


class Recipients:
    """A batch's recipients, indexed for matching reply items back to them."""

    def __init__(self, batch: Batch) -> None:
        self.count = len(batch.items)
        self._batch = batch
        self._by_digits = {digits(i.recipient): i.recipient for i in batch.items}
        self._by_uid: dict[str, str] | None = None  # built on the first echoed unique_id
        self._tails: dict[str, list[str]] | None = None

    def exact(self, phone: Any, uid: Any = None) -> str | None:
        """Pass 1: by the echoed ``unique_id`` or by all the digits."""
        if isinstance(uid, str) and uid.strip():
            if self._by_uid is None:
                self._by_uid = {unique_id(i.key): i.recipient for i in self._batch.items}
            if uid.strip() in self._by_uid:
                return self._by_uid[uid.strip()]
        text = phone_text(phone)
        number = digits(text) if text is not None else ""
        if not number:
            return None
        found = self._by_digits.get(number)
        if found is None and number.startswith("00"):
            found = self._by_digits.get(number[2:])
        return found

    def _national(self, phone: Any, taken: set[str]) -> str | None:
        """Pass 2: a national spelling (no ``+``) ending exactly one recipient not yet matched."""
        text = phone_text(phone)
        if text is None or text.startswith("+"):
            return None
        number = digits(text)
        if len(number) < MIN_NATIONAL_DIGITS:
            return None
        if self._tails is None:  # built once, on the first national spelling
            self._tails = {}
            for known in self._by_digits:
                self._tails.setdefault(known[-MIN_NATIONAL_DIGITS:], []).append(known)
        found = [
            self._by_digits[known]
            for known in self._tails.get(number[-MIN_NATIONAL_DIGITS:], ())
            if 1 <= len(known) - len(number) <= 3 and known.endswith(number) and self._by_digits[known] not in taken
        ]
        return found[0] if len(found) == 1 else None

    def assign(self, items: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """The recipient of each reply item (``None``: not one of the batch's)."""
        matched: list[str | None] = [self.exact(item.get("phone"), item.get("unique_id")) for item in items]
        taken = {m for m in matched if m is not None}
        if len(taken) < self.count:
            for n, item in enumerate(items):
                if matched[n] is None:
                    found = self._national(item.get("phone"), taken)
                    if found is not None:
                        matched[n] = found
                        taken.add(found)
        if self.count == 1 and len(items) == 1 and not taken:
            only = items[0]
            if phone_text(only.get("phone")) is None and isinstance(only.get("status"), str):
                matched[0] = next(iter(self._by_digits.values()))
        return matched
