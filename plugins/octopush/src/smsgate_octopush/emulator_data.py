"""What the emulator's two APIs share: prices, routed countries, number reading, the record
of an accepted message."""

from __future__ import annotations

from decimal import Decimal

import attrs

#: Price of one SMS part, in euros, per product.
PRICES: dict[str, Decimal] = {
    "FR": Decimal("0.055"),
    "XXX": Decimal("0.035"),
    "WWW": Decimal("0.075"),
    "sms_premium": Decimal("0.055"),
    "sms_low_cost": Decimal("0.035"),
}
#: Country calling codes the emulator routes (longest prefix wins); others fail with 150.
_ROUTES = (
    "33=FR 262=RE 590=GP 594=GF 596=MQ 687=NC 689=PF 32=BE 41=CH 352=LU 377=MC 49=DE 43=AT 48=PL 44=GB "
    "353=IE 34=ES 351=PT 39=IT 31=NL 45=DK 46=SE 47=NO 358=FI 420=CZ 421=SK 36=HU 40=RO 359=BG 30=GR "
    "385=HR 386=SI 370=LT 371=LV 372=EE 380=UA 7=RU 90=TR 212=MA 213=DZ 216=TN 221=SN 225=CI 237=CM "
    "27=ZA 1=US 52=MX 55=BR 54=AR 91=IN 86=CN 81=JP 82=KR 61=AU 64=NZ 971=AE 972=IL 65=SG"
)
COUNTRIES: dict[str, str] = {code: region for code, _, region in (pair.partition("=") for pair in _ROUTES.split())}


@attrs.frozen
class SentMessage:
    """One recipient of an accepted send."""

    api: str
    ticket: str
    recipient: str
    text: str
    type: str
    sender: str | None
    request_id: str | None
    send_at: float | None
    cost: Decimal
    fields: tuple[tuple[str, str], ...] = ()


def e164(number: str) -> str | None:
    """``+digits`` for ``+33…``, ``0033…``, ``33…`` or a French national ``06…``; ``None`` when invalid."""
    raw = number.strip().replace(" ", "")
    if raw.startswith("+"):
        digits = raw[1:]
    elif raw.startswith("00"):
        digits = raw[2:]
    elif raw.startswith("0"):
        digits = "33" + raw[1:]
    else:
        digits = raw
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def country(number: str) -> str | None:
    digits = number.lstrip("+")
    return next((COUNTRIES[digits[:n]] for n in (3, 2, 1) if digits[:n] in COUNTRIES), None)
