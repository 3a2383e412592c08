"""The gateway's text rules: which ``type`` a text travels as, how it is written, how long it is.

Seed 002 types: 0 plain text (GSM 03.38), 1 flash (GSM 03.38), 2 Unicode, 5 plain text
(ISO-8859-1), 6 Unicode flash, 7 flash (ISO-8859-1); 3 is reserved and 4 is WAP push (neither is
sent by this plugin). Unicode messages are written as the hex of UCS-2 / UTF-16 big-endian, four
hex digits per code unit (the official RouteSMS sample class); every other type is the text
itself, URL-encoded as UTF-8 like every parameter. Lengths (seed 002): one message holds 160
characters of plain text, 140 of flash and 280 hex digits of Unicode; a concatenated part holds
153 characters, or 268 hex digits (67 UCS-2 units). ISO-8859-1 is 8-bit: 140 bytes, 134 per part.
"""

from __future__ import annotations

import enum
from typing import Literal

from smsgate import text as smstext


class MessageType(enum.IntEnum):
    """The gateway's ``type`` values that this plugin sends."""

    PLAIN = 0
    FLASH = 1
    UNICODE = 2
    LATIN1 = 5
    UNICODE_FLASH = 6
    LATIN1_FLASH = 7

    @property
    def unicode(self) -> bool:
        return self in (MessageType.UNICODE, MessageType.UNICODE_FLASH)

    @property
    def latin1(self) -> bool:
        return self in (MessageType.LATIN1, MessageType.LATIN1_FLASH)

    @property
    def flash(self) -> bool:
        return self in (MessageType.FLASH, MessageType.UNICODE_FLASH, MessageType.LATIN1_FLASH)


#: Every ``type`` the gateway documents (3 reserved and 4 WAP push included).
DOCUMENTED_TYPES = frozenset(range(8))


def fits_latin1(text: str) -> bool:
    try:
        text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return False
    return True


def message_type(text: str, *, flash: bool, charset: Literal["gsm", "latin1"] = "gsm") -> MessageType:
    """The ``type`` for ``text``: ISO-8859-1 when asked for and it fits, else GSM when it fits,
    else Unicode; the flash variant of each when ``flash``."""
    if charset == "latin1" and fits_latin1(text):
        return MessageType.LATIN1_FLASH if flash else MessageType.LATIN1
    if smstext.is_gsm7(text):
        return MessageType.FLASH if flash else MessageType.PLAIN
    return MessageType.UNICODE_FLASH if flash else MessageType.UNICODE


def encode(text: str, mtype: MessageType, *, hex_case: Literal["upper", "lower"] = "upper") -> str:
    """The ``message`` parameter for ``text`` sent as ``mtype`` (before URL encoding)."""
    if mtype.unicode:
        return smstext.ucs2_hex(text, upper=hex_case == "upper")
    return text


def decode(message: str, mtype: int) -> str:
    """The text a ``message`` parameter of ``mtype`` carries (the gateway's side).

    Raises ``ValueError`` when a Unicode message is not UCS-2 hex (hex case is ignored).
    """
    if mtype not in (MessageType.UNICODE, MessageType.UNICODE_FLASH):
        return message
    if len(message) % 4 or not all(c in "0123456789abcdefABCDEF" for c in message):
        raise ValueError("a Unicode message is hex, four digits per UCS-2 unit")
    return bytes.fromhex(message).decode("utf-16-be", errors="surrogatepass")


def _count(length: int, single: int, multi: int) -> int:
    # Past the single-message limit a text is concatenated: at least two parts, even where a
    # part holds more than one message does (flash: 140 in one message, 153 per part).
    return 1 if length <= single else max(2, -(-length // multi))


def parts(text: str, mtype: MessageType) -> int:
    """How many messages the gateway counts for ``text`` sent as ``mtype`` (seed 002 lengths)."""
    if mtype.unicode:
        return _count(4 * smstext.ucs2_length(text), 280, 268)
    if mtype.latin1:
        return _count(len(text), 140, 134)
    try:
        length = smstext.gsm7_length(text)
    except ValueError:  # the gateway substitutes what GSM cannot carry; count characters
        length = len(text)
    return _count(length, 140 if mtype.flash else 160, 153)
