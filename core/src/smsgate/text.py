"""How an SMS text is encoded, how long it is and how a handset splits it.

A text made only of GSM 03.38 characters travels in the 7-bit default alphabet: 160 septets in a
single message, 153 per part once it is concatenated (the user data header takes the rest).
Characters of the extension table cost two septets (escape + character) and are never split
across parts. Any other character forces UCS-2: 70 UTF-16 code units in a single message, 67
per part; a character outside the Basic Multilingual Plane (most emoji) costs two units, and the
surrogate pair is never split. Everything here is a pure function of the text.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
import re

import attrs

from smsgate.errors import MessageTooLongError

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Encoding",
    "TextInfo",
    "analyse",
    "check_parts",
    "gsm7_length",
    "is_gsm7",
    "split",
    "ucs2_hex",
    "ucs2_length",
]


class Encoding(enum.Enum):
    """The data coding a text is sent with."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


#: The GSM 03.38 default alphabet, in code order (0x1B, the escape to the extension table, is
#: left out: it is not a character anyone sends).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
#: The extension table: each of these costs two septets (escape + character).
GSM7_EXTENSION: frozenset[str] = frozenset("\x0c^{}\\[~]|€")

_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION
# ASCII bytes outside the basic table, and those of them in no table at all: ASCII text is
# checked with ``bytes.translate``, which runs in C without hashing each character.
_ASCII_NOT_BASIC = bytes(c for c in range(128) if chr(c) not in GSM7_BASIC)
_ASCII_NOT_GSM7 = bytes(c for c in range(128) if chr(c) not in _GSM7_ALL)
_NOT_BASIC = re.compile("[^" + "".join(map(re.escape, sorted(GSM7_BASIC))) + "]")
_NOT_GSM7 = re.compile("[^" + "".join(map(re.escape, sorted(_GSM7_ALL))) + "]")
#: GSM text as one byte a character (Latin-1, with ESC standing for "€", the only extension
#: character beyond it) translates through this to 0 for a basic character, 1 for an extension
#: one and 2 for any other.
_FLAGS = bytes(1 if b == 0x1B or chr(b) in GSM7_EXTENSION else 0 if chr(b) in GSM7_BASIC else 2 for b in range(256))
_NOT_HIGH_SURROGATE = bytes(b for b in range(256) if not 0xD8 <= b <= 0xDB)
_NON_BMP_RE = re.compile("[\U00010000-\U0010ffff]")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


def _gsm7_scan(text: str) -> tuple[int, bytes | None] | None:
    """``(extension characters, their flags or None)`` for GSM *text*, ``None`` when it is not
    GSM. The flags (:func:`_extension_flags`) come along when they were computed anyway."""
    if text.isascii():
        data = text.encode("ascii")
        basic = len(data.translate(None, _ASCII_NOT_BASIC))
        if basic == len(data):
            return 0, None
        if len(data.translate(None, _ASCII_NOT_GSM7)) != len(data):
            return None
        return len(data) - basic, None
    first = _NOT_BASIC.search(text)
    if first is None:
        return 0, None
    if first.group() not in GSM7_EXTENSION or "\x1b" in text:  # a raw ESC is no character
        return None
    try:  # Latin-1 with "€" as ESC: checked and flagged by one translation, no regex scan
        flags = text.replace("€", "\x1b").encode("latin-1").translate(_FLAGS)
    except UnicodeEncodeError:  # beyond Latin-1: Greek capitals, or not GSM at all
        if _NOT_GSM7.search(text, first.start()) is not None:
            return None
        flags = _extension_flags(text)
    else:
        if b"\x02" in flags:
            return None
    return flags.count(1), flags


def _gsm7_extra(text: str) -> int | None:
    """The number of extension characters in *text*, or ``None`` when it is not GSM."""
    scan = _gsm7_scan(text)
    return None if scan is None else scan[0]


def is_gsm7(text: str) -> bool:
    """Whether every character of *text* is in the GSM 03.38 basic or extension table."""
    return _gsm7_extra(text) is not None


def gsm7_length(text: str) -> int:
    """The length of *text* in septets; extension characters count two.

    Raises :class:`ValueError` when *text* holds a character outside GSM 03.38.
    """
    extra = _gsm7_extra(text)
    if extra is None:
        bad = _NOT_GSM7.search(text)
        char = bad.group() if bad else "?"
        raise ValueError(f"{char!r} (U+{ord(char):04X}) is not in the GSM 03.38 alphabet")
    return len(text) + extra


def ucs2_length(text: str) -> int:
    """The length of *text* in UTF-16 code units (a character outside the BMP counts two)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def ucs2_hex(text: str, *, upper: bool = False) -> str:
    """*text* as UTF-16BE in hex, without a byte order mark: four hex digits per code unit."""
    out = text.encode("utf-16-be", "surrogatepass").hex()
    return out.upper() if upper else out


@attrs.frozen
class TextInfo:
    """What a text costs.

    ``length`` is in septets (GSM7) or UTF-16 code units (UCS2); ``per_part`` is the single
    message limit when ``parts == 1`` and the concatenated per-part limit otherwise; ``chars`` is
    the number of code points. ``last_part`` is the length of the final part when known
    (:func:`analyse` always sets it); it takes no part in comparisons.
    """

    encoding: Encoding
    length: int
    parts: int
    per_part: int
    chars: int
    last_part: int | None = attrs.field(default=None, kw_only=True, eq=False)

    @property
    def units(self) -> str:
        """The unit ``length`` is counted in: ``"septets"`` or ``"UTF-16 units"``."""
        return "septets" if self.encoding is Encoding.GSM7 else "UTF-16 units"

    @property
    def remaining(self) -> int:
        """How many units still fit in the last part."""
        last = self.last_part
        if last is None:
            last = self.length - self.per_part * (self.parts - 1)
        return self.per_part - last


@functools.lru_cache(maxsize=4096)
def _info(gsm: bool, length: int, parts: int, per: int, chars: int, last: int) -> TextInfo:
    # Building an attrs instance costs about as much as analysing a short text; the instances
    # are immutable and texts share few shapes, so they are cached. The key holds a bool, not
    # the Encoding: an Enum member hashes through Python code, a bool in C.
    return TextInfo(Encoding.GSM7 if gsm else Encoding.UCS2, length, parts, per, chars, last_part=last)


def _plan(text: str, force_unicode: bool) -> tuple[Encoding, int, int, int, bytes | None]:
    """Encoding, length, single and multi-part limits, and the extension flags of GSM text
    when the scan computed them."""
    if not force_unicode:
        scan = _gsm7_scan(text)
        if scan is not None:
            return Encoding.GSM7, len(text) + scan[0], GSM7_SINGLE, GSM7_MULTI, scan[1]
    return Encoding.UCS2, ucs2_length(text), UCS2_SINGLE, UCS2_MULTI, None


def _cuts(text: str, limit: int, wide: re.Pattern[str]) -> tuple[list[int], int]:
    """Greedy part boundaries (each part the longest prefix of the rest within *limit* units),
    and the length of the last part in units.

    Characters matching *wide* weigh two units and are never cut, so a part may hold one unit
    less than *limit*. Dropping ``ceil(excess / 2)`` characters is the least that can suffice,
    so the inner loop never overshoots the longest fitting prefix.
    """
    heavy = [m.start() for m in wide.finditer(text)]
    cuts, start, lo, n = [0], 0, 0, len(text)
    weight = 0
    while start < n:
        end = min(start + limit, n)
        while True:
            hi = bisect.bisect_left(heavy, end, lo)
            weight = end - start + hi - lo
            if weight <= limit:
                break
            end -= (weight - limit + 1) // 2
        cuts.append(end)
        start, lo = end, hi
    return cuts, weight


def _extension_flags(text: str) -> bytes:
    """One byte a character of GSM *text*: 1 for an extension character, 0 otherwise (the
    Greek capitals beyond Latin-1 become "?", a basic character)."""
    return text.replace("€", "\x1b").encode("latin-1", "replace").translate(_FLAGS)


def _septets(flags: bytes) -> bytes:
    """One byte a septet, from :func:`_extension_flags`: 0 for a basic character, 1 then 2 for
    the escape and the character of an extension one."""
    return flags.replace(b"\x01", b"\x01\x02")


def _septet_cuts(septets: bytes, limit: int) -> list[int]:
    """Greedy part boundaries of GSM text in septets (the ends of every part but the last): a
    part that would end on an escape leaves it, with its character, to the next part."""
    cuts, pos, n = [], 0, len(septets)
    while n - pos > limit:
        pos += limit - (septets[pos + limit - 1] == 1)
        cuts.append(pos)
    return cuts


def _utf16(text: str) -> bytes | None:
    """*text* as UTF-16LE, or ``None`` when it holds lone surrogates (then cut by code point)."""
    try:
        return text.encode("utf-16-le")
    except UnicodeEncodeError:
        return None


def _unit_cuts(data: bytes, limit: int) -> list[int]:
    """Greedy part boundaries of UTF-16LE *data* in code units (the ends of every part but the
    last), never between the halves of a surrogate pair."""
    cuts, pos, n = [], 0, len(data) // 2
    while n - pos > limit:
        pos += limit - (0xD8 <= data[2 * (pos + limit) - 1] <= 0xDB)  # the last unit opens a pair
        cuts.append(pos)
    return cuts


def analyse(text: str, *, force_unicode: bool = False) -> TextInfo:
    """Encoding, length and number of parts of *text*; empty text is one GSM7 part of length 0.

    With ``force_unicode`` the text is sent as UCS-2 even when GSM 03.38 could carry it.
    """
    chars = len(text)
    scan = None if force_unicode else _gsm7_scan(text)
    if scan is not None:
        extra, flags = scan
        length = chars + extra
        if length <= GSM7_SINGLE:
            return _info(True, length, 1, GSM7_SINGLE, chars, length)
        if not extra:
            parts = -(-length // GSM7_MULTI)
            return _info(True, length, parts, GSM7_MULTI, chars, length - GSM7_MULTI * (parts - 1))
        cuts = _septet_cuts(_septets(_extension_flags(text) if flags is None else flags), GSM7_MULTI)
        return _info(True, length, len(cuts) + 1, GSM7_MULTI, chars, length - cuts[-1])
    data = _utf16(text)  # one encoding gives both the length and the part boundaries
    length = ucs2_length(text) if data is None else len(data) // 2
    if length <= UCS2_SINGLE:
        return _info(False, length, 1, UCS2_SINGLE, chars, length)
    if length == chars:
        parts = -(-length // UCS2_MULTI)
        return _info(False, length, parts, UCS2_MULTI, chars, length - UCS2_MULTI * (parts - 1))
    if data is not None:
        cuts = _unit_cuts(data, UCS2_MULTI)
        return _info(False, length, len(cuts) + 1, UCS2_MULTI, chars, length - cuts[-1])
    cuts, last = _cuts(text, UCS2_MULTI, _NON_BMP_RE)
    return _info(False, length, len(cuts) - 1, UCS2_MULTI, chars, last)


def split(text: str, *, force_unicode: bool = False) -> tuple[str, ...]:
    """The parts of *text* as the handset sees them; ``"".join(split(t)) == t``.

    A GSM7 text of up to 160 septets is one part, a longer one is cut into parts of at most 153
    septets without splitting an extension character; UCS-2 likewise with 70 and 67 code units,
    without splitting a surrogate pair. Empty text is one empty part.
    """
    encoding, length, single, multi, flags = _plan(text, force_unicode)
    if length <= single:
        return (text,)
    if length == len(text):
        return tuple(text[i : i + multi] for i in range(0, len(text), multi))
    if encoding is Encoding.GSM7:
        septets = _septets(_extension_flags(text) if flags is None else flags)
        parts, start, pos = [], 0, 0
        for cut in _septet_cuts(septets, multi):  # a part's characters: its septets less one a pair
            end = start + (cut - pos) - septets.count(2, pos, cut)
            parts.append(text[start:end])
            start, pos = end, cut
        return (*parts, text[start:])
    data = _utf16(text)
    if data is not None:
        high = data[1::2]  # the high byte of each unit: D8-DB opens a surrogate pair
        # a unit boundary as a code point index: less one for each pair before it
        ends = [cut - len(high[:cut].translate(None, _NOT_HIGH_SURROGATE)) for cut in _unit_cuts(data, multi)]
        return tuple(text[a:b] for a, b in itertools.pairwise([0, *ends, len(text)]))
    cuts, _ = _cuts(text, multi, _NON_BMP_RE)
    return tuple(text[a:b] for a, b in itertools.pairwise(cuts))


def check_parts(info: TextInfo, max_parts: int, *, provider: str | None = None) -> None:
    """Raise :class:`~smsgate.errors.MessageTooLongError` when *info* needs over *max_parts*."""
    if max_parts < 1:
        raise ValueError(f"max_parts must be at least 1, not {max_parts}")
    if info.parts <= max_parts:
        return
    enc = "GSM-7" if info.encoding is Encoding.GSM7 else "UCS-2"
    noun = "part" if max_parts == 1 else "parts"
    needs = f"{info.parts} parts ({info.length} {info.units} as {enc})"
    rule = f"{needs} exceed the maximum of {max_parts} {noun}"
    raise MessageTooLongError("text", rule, provider=provider)
