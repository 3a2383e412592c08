"""Phone numbers to E.164: formats, regions, every rejection rule, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.errors import InvalidRecipientError, ValidationError
from smsgate.phone import REGIONS, normalise, normalise_many

SEPARATORS = [" ", "-", ".", "/", "(", ")"]


@pytest.mark.parametrize(
    "number",
    [
        "+48600700800",
        "+48 600 700 800",
        "+48-600-700-800",
        "+48.600.700.800",
        "+48/600/700/800",
        "(+48) 600 700 800",
        "+48 (600) 700-800",
        "  +48 600 700 800  ",
        "0048600700800",
        "00 48 600 700 800",
        "+48\u00a0600\u00a0700\u00a0800",
    ],
)
def test_international_formats(number: str) -> None:
    assert normalise(number) == "+48600700800"


def test_international_ignores_default_region() -> None:
    assert normalise("+44 7911 123456", "PL") == "+447911123456"
    assert normalise("0033 6 12 34 56 78", "DE") == "+33612345678"


@pytest.mark.parametrize(
    ("number", "region", "expected"),
    [
        ("600 700 800", "PL", "+48600700800"),  # no trunk prefix in Poland
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("612345678", "FR", "+33612345678"),  # trunk prefix is optional
        ("07911 123456", "GB", "+447911123456"),
        ("0151 12345678", "DE", "+4915112345678"),
        ("02 1234 5678", "IT", "+390212345678"),  # Italy keeps the leading 0
        ("347 123 4567", "IT", "+393471234567"),
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("8 701 123 4567", "KZ", "+77011234567"),
        ("8 029 123 45 67", "BY", "+375291234567"),
        ("06 30 123 4567", "HU", "+36301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("1 415 555 2671", "US", "+14155552671"),  # NANP trunk 1 on 11 digits
        ("416-555-0199", "CA", "+14165550199"),
        ("098765 43210", "IN", "+919876543210"),
        ("0803 123 4567", "NG", "+2348031234567"),
        ("0412 345 678", "AU", "+61412345678"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("9123 4567", "SG", "+6591234567"),
        ("55 1234 5678", "MX", "+525512345678"),
        ("600 700 800", "pl", "+48600700800"),  # region is case-insensitive
    ],
)
def test_national_numbers(number: str, region: str, expected: str) -> None:
    assert normalise(number, region) == expected


def test_region_table_covers_the_common_regions() -> None:
    eu = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
    others = "GB CH NO UA RU KZ BY TR US CA MX BR AR IN PK BD NG ZA KE EG MA AE SA IL AU NZ"
    asia = "JP CN KR SG ID PH VN TH MY"
    for region in f"{eu} {others} {asia}".split():
        code, trunks = REGIONS[region]
        assert code.isdigit(), region
        assert code[0] != "0", region
        assert all(t.isdigit() for t in trunks), region
    assert REGIONS["PL"] == ("48", ())
    assert REGIONS["RU"] == ("7", ("8",))


def rule_of(number: str, region: str | None = None) -> str:
    with pytest.raises(InvalidRecipientError) as caught:
        normalise(number, region)
    error = caught.value
    assert isinstance(error, ValidationError)
    assert error.number == number  # the original input, untouched
    assert error.field == "to"
    assert error.code == "invalid_number"
    assert error.rule.startswith(repr(number))
    return error.rule


def test_rejects_too_short() -> None:
    assert "has 5 digits; E.164 numbers have 8 to 15" in rule_of("+12345")
    assert "has 7 digits" in rule_of("0048 12345")


def test_rejects_too_long() -> None:
    assert "has 16 digits; E.164 numbers have 8 to 15" in rule_of("+1234567890123456")
    assert "has 16 digits" in rule_of("0 1234 5678 9012 34", "DE")


def test_accepts_the_length_limits() -> None:
    assert normalise("+12345678") == "+12345678"
    assert normalise("+123456789012345") == "+123456789012345"


BAD_CHARACTERS = ["+48 600 abc 800", "+48600700800x", "48600700800;", "+48_600", "+4860070080０"]


@pytest.mark.parametrize("number", BAD_CHARACTERS)
def test_rejects_other_characters(number: str) -> None:
    assert "contains characters other than digits and separators" in rule_of(number, "PL")


def test_rejects_plus_in_the_middle() -> None:
    assert "('+')" in rule_of("48+600700800", "PL")
    assert "('+')" in rule_of("++48600700800")


def test_rejects_country_code_starting_with_zero() -> None:
    assert "country code starting with 0" in rule_of("+0123456789")
    assert "country code starting with 0" in rule_of("000123456789")


def test_rejects_national_number_without_region() -> None:
    assert "is a national number and no default region is set" in rule_of("600 700 800")
    assert "no default region" in rule_of("48600700800")  # a + or 00 is required


@pytest.mark.parametrize("number", ["", "   ", "+", "( ) -", "00"])
def test_rejects_empty(number: str) -> None:
    rule = rule_of(number, "PL")
    assert "has no digits" in rule or "has 0 digits" in rule


def test_rejects_wrong_nanp_length() -> None:
    assert "national numbers in US have 10" in rule_of("555 2671", "US")
    assert "has 12 digits; national numbers in CA have 10" in rule_of("1 416 555 01999", "CA")


def test_unknown_region() -> None:
    with pytest.raises(ValidationError) as caught:
        normalise("600 700 800", "XX")
    assert not isinstance(caught.value, InvalidRecipientError)
    assert caught.value.field == "default_region"
    assert caught.value.rule == "unknown region 'XX'"


def test_normalise_many_keeps_order_and_drops_duplicates() -> None:
    numbers = ["+48 600 700 800", "07911 123456", "0048600700800", "600700800", "+447911123456"]
    assert normalise_many(numbers, "GB") == ("+48600700800", "+447911123456", "+44600700800")
    assert normalise_many([], "PL") == ()
    assert normalise_many(iter(["600 700 800", "600-700-800"]), "PL") == ("+48600700800",)


def test_normalise_many_raises_on_first_bad_number() -> None:
    with pytest.raises(InvalidRecipientError) as caught:
        normalise_many(["+48600700800", "bad", "also bad"])
    assert caught.value.number == "bad"


def test_normalise_many_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match="iterable of numbers"):
        normalise_many("+48600700800")


# -- properties -------------------------------------------------------------------------------

e164_digits = st.text("0123456789", min_size=7, max_size=14).flatmap(
    lambda rest: st.sampled_from("123456789").map(lambda first: first + rest)
)


@given(e164_digits)
def test_plus_and_00_forms_are_identity(digits: str) -> None:
    assert normalise("+" + digits) == "+" + digits
    assert normalise("00" + digits) == "+" + digits
    assert normalise("+" + digits, "FR") == "+" + digits


@given(e164_digits, st.data())
def test_separators_do_not_change_the_result(digits: str, data: st.DataObject) -> None:
    prefix = data.draw(st.sampled_from(["+", "00"]))
    number = prefix + digits
    positions = data.draw(st.lists(st.integers(0, len(number)), max_size=8))
    chars = list(number)
    for pos in sorted(positions, reverse=True):
        chars.insert(pos, data.draw(st.sampled_from(SEPARATORS)))
    assert normalise("".join(chars)) == "+" + digits


@given(st.text("0123456789", max_size=20).filter(lambda d: not 8 <= len(d) <= 15))
def test_wrong_lengths_are_always_rejected(digits: str) -> None:
    with pytest.raises(InvalidRecipientError):
        normalise("+" + digits)


@given(st.text(min_size=1, max_size=20))
def test_result_is_always_e164_or_an_error(number: str) -> None:
    try:
        result = normalise(number, "DE")
    except InvalidRecipientError as error:
        caught = error
    else:
        assert result[0] == "+"
        assert result[1:].isascii()
        assert result[1:].isdigit()
        assert 8 <= len(result) - 1 <= 15
        assert result[1] != "0"
        return
    assert caught.number == number
