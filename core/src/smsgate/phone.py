"""Phone numbers to E.164 (``+`` and 8 to 15 digits).

International numbers are written with a leading ``+`` or ``00``; anything else is national and
needs a default region, whose trunk prefix is dropped and whose calling code is prepended.
Separators (spaces, ``-``, ``.``, ``/``, parentheses) are ignored. When the optional
``phonenumbers`` package is installed it adds a stricter check per country.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Iterable, Mapping
from typing import Any

from smsgate.errors import InvalidRecipientError, ValidationError

__all__ = ["REGIONS", "normalise", "normalise_many"]

_CANONICAL = re.compile(r"\+[1-9][0-9]{7,14}")
MIN_DIGITS, MAX_DIGITS = 8, 15

# region: (calling code, trunk prefixes dropped from national numbers, longest first)
_TABLE = """
AT 43 0     BE 32 0     BG 359 0    HR 385 0    CY 357 -    CZ 420 -    DK 45 -     EE 372 -
FI 358 0    FR 33 0     DE 49 0     GR 30 -     HU 36 06    IE 353 0    IT 39 -     LV 371 -
LT 370 8,0  LU 352 -    MT 356 -    NL 31 0     PL 48 -     PT 351 -    RO 40 0     SK 421 0
SI 386 0    ES 34 -     SE 46 0     GB 44 0     CH 41 0     NO 47 -     UA 380 0    RU 7 8
KZ 7 8      BY 375 80,0 TR 90 0     US 1 -      CA 1 -      MX 52 -     BR 55 0     AR 54 0
IN 91 0     PK 92 0     BD 880 0    NG 234 0    ZA 27 0     KE 254 0    EG 20 0     MA 212 0
AE 971 0    SA 966 0    IL 972 0    AU 61 0     NZ 64 0     JP 81 0     CN 86 0     KR 82 0
SG 65 -     ID 62 0     PH 63 0     VN 84 0     TH 66 0     MY 60 0     HK 852 -    TW 886 0
"""


def _parse_table(table: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    words = table.split()
    rows = zip(words[0::3], words[1::3], words[2::3])
    return {r: (cc, () if trunk == "-" else tuple(trunk.split(","))) for r, cc, trunk in rows}


#: ISO 3166 alpha-2 region -> (country calling code, national trunk prefixes).
REGIONS: Mapping[str, tuple[str, tuple[str, ...]]] = types.MappingProxyType(_parse_table(_TABLE))
_NANP = "1"  # North American Numbering Plan: national numbers are 10 digits, trunk "1"

_SEPARATOR_CHARS = " \t\u00a0\u2007\u2009\u202f-\u2010\u2011\u2012\u2013\u2014\u2212./()"
_SEPARATORS = str.maketrans("", "", _SEPARATOR_CHARS)


def _region(default_region: str | None) -> tuple[str, tuple[str, ...]] | None:
    if default_region is None:
        return None
    entry = REGIONS.get(default_region.strip().upper())
    if entry is None:
        raise ValidationError("default_region", f"unknown region {default_region!r}")
    return entry


def _national(number: str, digits: str, region: str, entry: tuple[str, tuple[str, ...]]) -> str:
    """The E.164 digits (without ``+``) of a national number in *region*."""
    code, trunks = entry
    if code == _NANP:
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) != 10:
            rule = f"has {len(digits)} digits; national numbers in {region} have 10"
            raise InvalidRecipientError(number, rule)
        return code + digits
    for trunk in trunks:
        if digits.startswith(trunk):
            digits = digits[len(trunk) :]
            break
    return code + digits


@functools.cache
def _phonenumbers() -> Any:  # pragma: no cover - depends on an optional package
    try:
        import phonenumbers  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return phonenumbers


def _strict_check(number: str, e164: str) -> None:  # pragma: no cover - optional package
    """The ``phonenumbers`` check, when the package is installed."""
    lib = _phonenumbers()
    if lib is None:
        return
    try:
        parsed = lib.parse(e164, None)
    except lib.NumberParseException as exc:
        raise InvalidRecipientError(number, f"cannot be parsed ({exc})") from None
    if not lib.is_possible_number(parsed):
        raise InvalidRecipientError(number, "is not a possible number for its country")


def normalise(number: str, default_region: str | None = None) -> str:
    """*number* in E.164: ``+`` and 8 to 15 digits.

    ``+`` or ``00`` starts an international number; any other number is national and needs
    *default_region* (ISO 3166 alpha-2, e.g. ``"PL"``). Raises
    :class:`~smsgate.errors.InvalidRecipientError` naming the original input and the broken
    rule, or :class:`~smsgate.errors.ValidationError` for an unknown region.
    """
    entry = _region(default_region)
    if _CANONICAL.fullmatch(number) and _phonenumbers() is None:
        return number  # already E.164: the common case, no work
    return _parse(number, default_region, entry)


def _parse(number: str, default_region: str | None, entry: tuple[str, tuple[str, ...]] | None) -> str:
    """:func:`normalise` past its fast path; ``entry`` is *default_region*'s :data:`REGIONS` row."""
    digits = number.strip().translate(_SEPARATORS)
    international = digits.startswith("+")
    if international:
        digits = digits[1:]
    if not (digits.isascii() and digits.isdigit()):
        if not digits:
            raise InvalidRecipientError(number, "has no digits")
        bad = next(c for c in digits if not "0" <= c <= "9")
        rule = f"contains characters other than digits and separators ({bad!r})"
        raise InvalidRecipientError(number, rule)
    if not international and digits.startswith("00"):
        international, digits = True, digits[2:]
    if not international:
        if entry is None or default_region is None:
            raise InvalidRecipientError(
                number, "is a national number and no default region is set (write it with + or 00)"
            )
        digits = _national(number, digits, default_region.strip().upper(), entry)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidRecipientError(
            number, f"has {len(digits)} digits; E.164 numbers have {MIN_DIGITS} to {MAX_DIGITS}"
        )
    if digits[0] == "0":
        raise InvalidRecipientError(number, "has a country code starting with 0")
    e164 = "+" + digits
    _strict_check(number, e164)
    return e164


def normalise_many(numbers: Iterable[str], default_region: str | None = None) -> tuple[str, ...]:
    """Each number normalised (see :func:`normalise`), in order, without duplicates."""
    if isinstance(numbers, str):
        raise TypeError("normalise_many() takes an iterable of numbers, not a single string")
    numbers = tuple(numbers)
    if len(numbers) <= 1:  # nothing to de-duplicate
        return (normalise(numbers[0], default_region),) if numbers else ()
    entry = _region(default_region)
    if _phonenumbers() is not None:  # pragma: no cover - optional package: every number is checked
        return tuple(dict.fromkeys([normalise(n, default_region) for n in numbers]))
    canonical = _CANONICAL.fullmatch  # already E.164: the common case, taken as it is
    return tuple(dict.fromkeys([n if canonical(n) else _parse(n, default_region, entry) for n in numbers]))
