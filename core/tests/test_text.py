"""GSM 03.38 / UCS-2 analysis and splitting: concrete boundaries and properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from smsgate.errors import MessageTooLongError, ValidationError
from smsgate.text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    TextInfo,
    analyse,
    check_parts,
    gsm7_length,
    is_gsm7,
    split,
    ucs2_hex,
    ucs2_length,
)

GSM_ALPHABET = sorted(GSM7_BASIC | GSM7_EXTENSION)
EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair in UTF-16


Texts = st.SearchStrategy[str]


def long_or_short(chars: Texts, short: int, lo: int, hi: int) -> Texts:
    """Short texts, and texts long enough to need several parts."""
    return st.one_of(st.text(chars, max_size=short), st.text(chars, min_size=lo, max_size=hi))


gsm_texts = long_or_short(st.sampled_from(GSM_ALPHABET), 200, 140, 700)
# mostly GSM, with extension characters, emoji and anything else: exercises every boundary rule
mixed_texts = long_or_short(
    st.one_of(
        st.sampled_from(GSM_ALPHABET),
        st.sampled_from(sorted(GSM7_EXTENSION)),
        st.sampled_from([EMOJI, "ż", "\u4e2d"]),
        st.characters(),
    ),
    100,
    60,
    400,
)
any_texts = st.one_of(st.text(max_size=300), gsm_texts, mixed_texts)


def limits(info: TextInfo) -> tuple[int, int]:
    return (160, 153) if info.encoding is Encoding.GSM7 else (70, 67)


def weight(segment: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return gsm7_length(segment)
    return ucs2_length(segment)


# -- the alphabet -----------------------------------------------------------------------------


def test_alphabet_tables() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes less ESC
    assert frozenset("^{}\\[~]|€\x0c") == GSM7_EXTENSION
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà") <= GSM7_BASIC
    assert "\x1b" not in GSM7_BASIC


@pytest.mark.parametrize("char", ["`", "\t", "\x00", "\x7f", "ç", "á", "ł", "\u200b"])
def test_non_gsm_characters(char: str) -> None:
    assert not is_gsm7("abc" + char)
    with pytest.raises(ValueError, match=r"GSM 03\.38"):
        gsm7_length("abc" + char)


def test_gsm7_length_counts_extension_twice() -> None:
    assert gsm7_length("") == 0
    assert gsm7_length("abc") == 3
    assert gsm7_length("€") == 2
    assert gsm7_length("[x]") == 5
    assert gsm7_length("Ça coute 5€ {ok}") == 16 + 3
    assert gsm7_length("\x0c") == 2


def test_ucs2_length_counts_surrogate_pairs() -> None:
    assert ucs2_length("") == 0
    assert ucs2_length("Zażółć") == 6
    assert ucs2_length(EMOJI) == 2
    assert ucs2_length("a" + EMOJI + "b") == 4


def test_ucs2_hex() -> None:
    assert ucs2_hex("") == ""
    assert ucs2_hex("Aż") == "0041017c"
    assert ucs2_hex("Aż", upper=True) == "0041017C"
    assert ucs2_hex(EMOJI) == "d83dde00"


# -- analyse and split: boundaries ------------------------------------------------------------


def test_empty_text() -> None:
    info = analyse("")
    assert info == TextInfo(Encoding.GSM7, 0, 1, 160, 0, last_part=0)
    assert info.remaining == 160
    assert split("") == ("",)


@pytest.mark.parametrize(
    ("length", "parts", "per_part", "remaining"),
    [(1, 1, 160, 159), (160, 1, 160, 0), (161, 2, 153, 145), (306, 2, 153, 0), (307, 3, 153, 152)],
)
def test_gsm7_boundaries(length: int, parts: int, per_part: int, remaining: int) -> None:
    text = "a" * length
    info = analyse(text)
    assert (info.encoding, info.length, info.parts, info.per_part) == (
        Encoding.GSM7,
        length,
        parts,
        per_part,
    )
    assert info.chars == length
    assert info.remaining == remaining
    assert len(split(text)) == parts


def test_extension_character_counts_double() -> None:
    assert analyse("€" * 80).parts == 1
    assert analyse("€" * 80 + "a").parts == 2
    assert analyse("[" * 80) == TextInfo(Encoding.GSM7, 160, 1, 160, 80, last_part=160)


def test_extension_character_at_position_153_moves_to_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the escape would be septet 153, the € septet 154
    info = analyse(text)
    parts = split(text)
    assert [len(p) for p in parts] == [152, 11]
    assert parts[1].startswith("€")
    assert info.parts == 2
    assert info.length == 164
    assert info.remaining == 153 - 12


def test_extension_character_ending_exactly_at_153_stays() -> None:
    parts = split("a" * 151 + "€" + "b" * 10)
    assert [gsm7_length(p) for p in parts] == [153, 10]


def test_extension_shift_can_add_a_part() -> None:
    # 306 septets would fit in two parts of 153, but the € straddling 153/154 cannot be cut
    text = "a" * 152 + "€" + "b" * 152
    assert gsm7_length(text) == 306
    assert analyse(text).parts == 3
    assert [gsm7_length(p) for p in split(text)] == [152, 153, 1]


@pytest.mark.parametrize(
    ("text", "parts", "per_part"),
    [("ż" * 70, 1, 70), ("ż" * 71, 2, 67), ("ż" * 134, 2, 67), ("ż" * 135, 3, 67)],
)
def test_ucs2_boundaries(text: str, parts: int, per_part: int) -> None:
    info = analyse(text)
    assert info.encoding is Encoding.UCS2
    assert (info.length, info.parts, info.per_part) == (len(text), parts, per_part)
    assert len(split(text)) == parts


def test_emoji_at_unit_boundary_67_is_not_split() -> None:
    text = "x" * 66 + EMOJI + "y" * 10  # the pair would be units 67 and 68
    assert ucs2_length(text) == 78
    parts = split(text)
    assert parts == ("x" * 66, EMOJI + "y" * 10)
    assert [ucs2_length(p) for p in parts] == [66, 12]
    assert analyse(text).remaining == 67 - 12


def test_emoji_ending_exactly_at_67_stays() -> None:
    parts = split("x" * 65 + EMOJI + "y" * 10)
    assert parts[0].endswith(EMOJI)
    assert [ucs2_length(p) for p in parts] == [67, 10]


def test_single_emoji_message_fits_35_emoji() -> None:
    assert analyse(EMOJI * 35) == TextInfo(Encoding.UCS2, 70, 1, 70, 35, last_part=70)
    assert analyse(EMOJI * 36).parts == 2


def test_polish_is_ucs2() -> None:
    info = analyse("Zażółć gęślą jaźń")
    assert info.encoding is Encoding.UCS2
    assert (info.length, info.parts, info.per_part, info.chars) == (17, 1, 70, 17)


def test_accented_gsm_letters_stay_gsm7() -> None:
    info = analyse("Café è à ù ì ò, Ça va? Ñoño, Øre, ΔΣ ß")
    assert info.encoding is Encoding.GSM7


def test_force_unicode() -> None:
    info = analyse("hello", force_unicode=True)
    assert (info.encoding, info.length, info.parts, info.per_part) == (Encoding.UCS2, 5, 1, 70)
    assert len(split("a" * 71, force_unicode=True)) == 2
    assert len(split("a" * 71)) == 1


def test_lone_surrogates_are_one_unit_each() -> None:
    text = "\ud83d" * 71  # malformed input a str can still hold
    assert ucs2_length(text) == 71
    assert analyse(text).parts == 2
    assert "".join(split(text)) == text


# -- check_parts ------------------------------------------------------------------------------


def test_check_parts_allows_up_to_max() -> None:
    check_parts(analyse("a" * 306), 2)
    check_parts(analyse(""), 1)


def test_check_parts_raises_message_too_long() -> None:
    with pytest.raises(MessageTooLongError) as caught:
        check_parts(analyse("a" * 307), 2, provider="acme")
    error = caught.value
    assert isinstance(error, ValidationError)
    assert error.field == "text"
    assert error.provider == "acme"
    assert error.rule == "3 parts (307 septets as GSM-7) exceed the maximum of 2 parts"


def test_check_parts_ucs2_wording_and_single_part() -> None:
    with pytest.raises(MessageTooLongError, match=r"2 parts \(71 UTF-16 units as UCS-2\)") as c:
        check_parts(analyse("ż" * 71), 1)
    assert c.value.rule.endswith("maximum of 1 part")
    with pytest.raises(ValueError, match="at least 1"):
        check_parts(analyse("a"), 0)


# -- properties -------------------------------------------------------------------------------


@given(any_texts, st.booleans())
@example("a" * 152 + "€" * 3, False)
@example("x" * 66 + EMOJI * 3, False)
def test_split_round_trips_and_matches_analyse(text: str, force_unicode: bool) -> None:
    info = analyse(text, force_unicode=force_unicode)
    parts = split(text, force_unicode=force_unicode)
    assert "".join(parts) == text
    assert len(parts) == info.parts
    single, multi = limits(info)
    assert info.per_part == (single if info.parts == 1 else multi)
    assert sum(weight(p, info.encoding) for p in parts) == info.length
    assert info.chars == len(text)
    assert info.remaining == info.per_part - weight(parts[-1], info.encoding)
    assert 0 <= info.remaining <= info.per_part


@given(any_texts, st.booleans())
def test_segments_are_within_limits_and_greedy(text: str, force_unicode: bool) -> None:
    info = analyse(text, force_unicode=force_unicode)
    parts = split(text, force_unicode=force_unicode)
    if info.parts == 1:
        assert info.length <= info.per_part
        return
    for part, following in itertools.pairwise(parts):
        w = weight(part, info.encoding)
        assert 0 < w <= info.per_part
        # greedy: the next character would not have fitted
        assert w + weight(following[0], info.encoding) > info.per_part
    assert 0 < weight(parts[-1], info.encoding) <= info.per_part


@given(gsm_texts)
def test_gsm_texts_are_gsm7_and_length_is_sum_of_weights(text: str) -> None:
    assert is_gsm7(text)
    expected = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    assert gsm7_length(text) == expected
    info = analyse(text)
    assert info.encoding is Encoding.GSM7
    assert info.length == expected


@given(st.text(max_size=300))
def test_encoding_choice_matches_alphabet(text: str) -> None:
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    assert is_gsm7(text) is gsm
    assert analyse(text).encoding is (Encoding.GSM7 if gsm else Encoding.UCS2)


@given(st.text(max_size=300), st.booleans())
def test_ucs2_hex_round_trips(text: str, upper: bool) -> None:
    encoded = ucs2_hex(text, upper=upper)
    assert len(encoded) == 4 * ucs2_length(text)
    assert encoded == (encoded.upper() if upper else encoded.lower())
    assert bytes.fromhex(encoded).decode("utf-16-be") == text


# -- the fast paths against a per-character reference -------------------------------------------


def reference(text: str, force_unicode: bool = False) -> tuple[str, int, int, int, int, tuple[str, ...]]:
    """The rules written out one character at a time: (encoding, length, parts, per part, last
    part's length, the parts)."""
    gsm = not force_unicode and all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    if gsm:
        weights, single, multi = [2 if c in GSM7_EXTENSION else 1 for c in text], 160, 153
    else:  # a lone surrogate is one unit, like any other BMP code point
        weights, single, multi = [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67
    length = sum(weights)
    if length <= single:
        return ("gsm7" if gsm else "ucs2"), length, 1, single, length, (text,)
    parts, start, used = [], 0, 0
    for i, w in enumerate(weights):
        if used + w > multi:  # greedy: the character does not fit, it opens the next part
            parts.append(text[start:i])
            start, used = i, 0
        used += w
    parts.append(text[start:])
    return ("gsm7" if gsm else "ucs2"), length, len(parts), multi, used, tuple(parts)


UCS2_SAMPLES = ["ż", "ж", "\u4e2d", "ç", "Α", EMOJI, "\U00020000", "\U0010fffd", "\ud83d"]  # pairs open with D8 to DB
gsm_with_extension = long_or_short(
    st.one_of(st.sampled_from(GSM_ALPHABET), st.sampled_from(sorted(GSM7_EXTENSION))), 170, 150, 800
)
gsm_extension_ucs2 = long_or_short(
    st.one_of(st.sampled_from(GSM_ALPHABET), st.sampled_from(sorted(GSM7_EXTENSION)), st.sampled_from(UCS2_SAMPLES)),
    80,
    60,
    400,
)
ucs2_mostly = long_or_short(st.one_of(st.sampled_from(UCS2_SAMPLES), st.sampled_from(GSM_ALPHABET)), 80, 60, 400)


@given(st.one_of(gsm_with_extension, gsm_extension_ucs2, ucs2_mostly), st.booleans())
@example("a" * 152 + "€" + "b" * 152, False)
@example("€" * 77 + "a", False)
@example("Δ€" * 60, False)  # beyond Latin-1 but GSM: the slower check
@example("x" * 66 + EMOJI * 5, False)
@example("x" * 66 + "\U0010fffd" * 5, False)  # a pair opening with DB straddling unit 67
@example("\ud83d" * 71 + EMOJI, False)  # a lone surrogate: cut by code point
def test_analyse_and_split_match_a_per_character_reference(text: str, force_unicode: bool) -> None:
    encoding, length, parts, per_part, last, pieces = reference(text, force_unicode)
    info = analyse(text, force_unicode=force_unicode)
    assert (info.encoding.value, info.length, info.parts, info.per_part, info.last_part) == (
        encoding,
        length,
        parts,
        per_part,
        last,
    )
    assert info.chars == len(text)
    assert split(text, force_unicode=force_unicode) == pieces
    assert is_gsm7(text) is (reference(text)[0] == "gsm7")
