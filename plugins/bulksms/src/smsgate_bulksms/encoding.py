"""The EAPI's text rules: ISO-8859-1 with the GSM mapping, 16-bit hex, and the batch CSV.

- 7-bit text travels as ISO-8859-1. GSM characters Latin-1 lacks (the Greek capitals) are sent
  as the byte values of BulkSMS's own sample code (Δ→0xD0, Φ→0xDE, Γ→0xAC ...); every other GSM
  character is its Latin-1 self (¡→0xA1, £→0xA3 ... ü→0xFC, and ASCII).
- A text that cannot travel so (not GSM 03.38, or holding €, which Latin-1 has no byte for) is
  sent as ``dca=16bit``: UTF-16BE in lowercase hex, four digits per code unit, no BOM.
- ``send_batch`` takes CSV with a ``msisdn,message`` header; double quotes and newlines inside a
  value are escaped with a backslash (and so is the backslash itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from smsgate.text import Encoding, TextInfo, analyse, ucs2_hex

LATIN1 = "iso-8859-1"
#: GSM 03.38 characters with no ISO-8859-1 code, and the byte BulkSMS reads them from.
GSM_TO_LATIN1: dict[str, str] = {
    "Δ": "\xd0",
    "Φ": "\xde",
    "Γ": "\xac",
    "Λ": "\xc2",
    "Ω": "\xdb",
    "Π": "\xba",
    "Ψ": "\xdd",
    "Σ": "\xca",
    "Θ": "\xd4",
    "Ξ": "\xb1",
}
LATIN1_TO_GSM: dict[str, str] = {v: k for k, v in GSM_TO_LATIN1.items()}
_TO_LATIN1 = str.maketrans(GSM_TO_LATIN1)
_FROM_LATIN1 = str.maketrans(LATIN1_TO_GSM)


def to_latin1(text: str) -> str | None:
    """``text`` with the GSM mapping applied, ready to encode as ISO-8859-1; ``None`` when a
    character has no byte there."""
    mapped = text.translate(_TO_LATIN1)
    try:
        mapped.encode(LATIN1)
    except UnicodeEncodeError:
        return None
    return mapped


def from_latin1(text: str) -> str:
    """The GSM text a decoded ISO-8859-1 ``message`` stands for (the gateway's side)."""
    return text.translate(_FROM_LATIN1)


@attrs.frozen
class Encoded:
    """A text as the ``message`` parameter carries it: the value, its ``dca`` (``None``: the
    default 7bit) and the number of SMS parts it takes."""

    message: str
    dca: str | None
    parts: int


def encode_text(text: str, info: TextInfo | None = None) -> Encoded:
    """``text`` as 7-bit Latin-1 where it can be, else as ``dca=16bit`` hex."""
    info = info or analyse(text)
    if info.encoding is Encoding.GSM7:
        mapped = to_latin1(text)
        if mapped is not None:
            return Encoded(mapped, None, info.parts)
    unicode = analyse(text, force_unicode=True)
    return Encoded(ucs2_hex(text), "16bit", unicode.parts)


# -- send_batch CSV ------------------------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\\n", "\r": "\\\r"})


def csv_value(value: str) -> str:
    """One quoted CSV value, with the EAPI's backslash escapes."""
    return '"' + value.translate(_ESCAPES) + '"'


def batch_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """``batch_data``: the bare header line, then one quoted line per message."""
    lines = [",".join(header)]
    lines.extend(",".join(csv_value(v) for v in row) for row in rows)
    return "\n".join(lines)


def parse_csv(data: str) -> list[list[str]]:
    """The records of ``batch_data`` (the gateway's side). Quoted and bare values, backslash
    escapes and doubled quotes are understood; a record left open at the end is dropped."""
    records: list[list[str]] = []
    record: list[str] = []
    value: list[str] = []
    quoted = in_quotes = False
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == "\\" and i + 1 < n:
            value.append(data[i + 1])
            i += 2
            continue
        if in_quotes:
            if c == '"' and i + 1 < n and data[i + 1] == '"':
                value.append('"')
                i += 1
            elif c == '"':
                in_quotes = False
            else:
                value.append(c)
        elif c == '"' and not value and not quoted:
            in_quotes = quoted = True
        elif c == ",":
            record.append("".join(value))
            value, quoted = [], False
        elif c in "\r\n":
            if c == "\r" and i + 1 < n and data[i + 1] == "\n":
                i += 1
            record.append("".join(value))
            records.append(record)
            record, value, quoted = [], [], False
        else:
            value.append(c)
        i += 1
    if not in_quotes and (value or record or quoted):
        record.append("".join(value))
        records.append(record)
    return [r for r in records if r != [""]]
