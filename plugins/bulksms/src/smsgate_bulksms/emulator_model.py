"""The emulated gateway's side of the wire: reading parameters the way the EAPI does, and the
records it keeps. Pure helpers for :mod:`smsgate_bulksms.emulator`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from smsgate.text import GSM7_BASIC, GSM7_EXTENSION, analyse
from smsgate_bulksms.encoding import from_latin1, parse_csv
from smsgate_bulksms.schedule import SEND_TIME_FORMAT

_NOT_GSM = re.compile("[^" + "".join(map(re.escape, sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_MSISDN = re.compile(r"^[0-9]{6,16}$")
#: ``concat_text_sms_max_parts`` when ``allow_concat_text_sms=1`` comes without it (the
#: official sample pairs the two with 2).
DEFAULT_MAX_PARTS = 2
#: Per-message CSV columns of send_batch; request parameters of the same name are defaults.
BATCH_COLUMNS = ("msisdn", "message", "sender", "msg_class", "dca", "routing_group", "source_id", "repliable")


def digits(value: str) -> bool:
    """Whether ``value`` is a non-empty run of ASCII digits."""
    return value.isascii() and value.isdigit()


class Invalid(Exception):
    """A parameter the gateway refuses: status code 24, data validation failed."""


@attrs.define
class Recipient:
    """One message of a submission, as get_report shows it."""

    msisdn: str
    text: str
    parts: int
    credits: Decimal
    status: str | None = None  # forced by a test (set_status); None: computed from the clock
    pushed: str | None = None  # the status last pushed to the account's callback URL


@attrs.define
class Submission:
    """An accepted send_sms or send_batch request."""

    batch_id: str
    created: float
    due: float  # when it goes out (created, or its send_time)
    recipients: list[Recipient]
    sender: str
    source_id: str
    want_report: bool


@attrs.define
class Push:
    """A pending HTTP push of one status to the callback URL."""

    params: dict[str, str]
    due: float
    attempt: int = 0


def decode_message(params: Mapping[str, str]) -> tuple[str, int]:
    """The text of ``message`` under its ``dca`` and the number of parts it takes; raises
    :class:`Invalid` for a bad encoding or a text too long for the concatenation allowed."""
    message, dca = params.get("message", ""), (params.get("dca") or "7bit").lower()
    if not message:
        raise Invalid("message is required")
    if dca == "7bit":
        text = from_latin1(message)
        parts = analyse(_NOT_GSM.sub("?", text)).parts  # the gateway substitutes what GSM lacks
    elif dca in ("8bit", "16bit"):
        if not _HEX.match(message):
            raise Invalid(f"dca={dca} needs a message of hexadecimal octets")
        data = bytes.fromhex(message)
        if dca == "16bit":
            if len(data) % 2:
                raise Invalid("dca=16bit needs whole UTF-16 code units (4 hex digits each)")
            text = data.decode("utf-16-be", errors="replace")
            parts = analyse(text, force_unicode=True).parts
        else:
            text = message
            parts = 1 if len(data) <= 140 else -(-len(data) // 134)
    else:
        raise Invalid(f"dca must be 7bit, 8bit or 16bit, not {dca!r}")
    if parts > 1:
        if params.get("allow_concat_text_sms") != "1":
            raise Invalid(f"message needs {parts} parts and allow_concat_text_sms is not 1")
        limit = params.get("concat_text_sms_max_parts") or str(DEFAULT_MAX_PARTS)
        if not digits(limit) or parts > int(limit):
            raise Invalid(f"message needs {parts} parts; concat_text_sms_max_parts is {limit}")
    return text, parts


def parse_msisdns(value: str) -> list[str]:
    """A comma-separated msisdn list (international format, digits only)."""
    numbers = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in numbers if not _MSISDN.match(n)]
    if bad:
        raise Invalid(f"invalid msisdn {bad[0][:20]!r}")
    return numbers


def parse_due(params: Mapping[str, str], zone: ZoneInfo, now: float) -> float:
    """When the message goes out: its ``send_time`` (``yyyy-MM-dd HH:mm:ss`` in the account's
    zone) or ``send_time_unixtime``; a time in the past means now."""
    unix, local = params.get("send_time_unixtime"), params.get("send_time")
    if unix:
        if not digits(unix):
            raise Invalid(f"send_time_unixtime {unix[:20]!r} is not a Unix time")
        due = float(unix)
    elif local:
        try:
            due = datetime.strptime(local, SEND_TIME_FORMAT).replace(tzinfo=zone).timestamp()
        except ValueError:
            raise Invalid(f"send_time {local[:30]!r} is not yyyy-MM-dd HH:mm:ss") from None
    else:
        return now
    return max(due, now)


def check_options(params: Mapping[str, str]) -> None:
    """The enumerated options a request or CSV line may carry."""
    if params.get("msg_class", "2") not in ("0", "1", "2", "3"):
        raise Invalid("msg_class must be 0, 1, 2 or 3")
    for flag in ("want_report", "repliable", "strip_dup_recipients", "allow_concat_text_sms"):
        if params.get(flag, "0") not in ("0", "1"):
            raise Invalid(f"{flag} must be 0 or 1")
    group = params.get("routing_group") or params.get("cost_route") or "1"
    if not digits(group):
        raise Invalid("routing_group must be a number")
    if params.get("repliable") == "1" and params.get("sender"):
        raise Invalid("repliable cannot be combined with sender")


def batch_lines(data: str, defaults: Mapping[str, str]) -> list[dict[str, str]]:
    """The valid messages of ``batch_data``, request parameters filling the columns a line
    leaves out; invalid lines are skipped, as the gateway does."""
    records = parse_csv(data)
    if not records:
        raise Invalid("batch_data is empty")
    header = [h.strip().lower() for h in records[0]]
    if "msisdn" not in header or "message" not in header:
        raise Invalid("batch_data needs a msisdn,message header")
    lines = []
    for record in records[1:]:
        if len(record) > len(header):  # short lines leave the last columns to the defaults
            continue
        line = dict(defaults)
        line.update((k, v) for k, v in zip(header, record) if k in BATCH_COLUMNS and v != "")
        try:
            parse_msisdns(line.get("msisdn", "x"))
            check_options(line)
            decode_message(line)
        except Invalid:
            continue
        if "," in line["msisdn"]:
            continue
        lines.append(line)
    return lines


#: ``completed_time`` in an HTTP push: "The format is yy-MM-dd HH:mm:ss (24 hour clock)".
PUSH_TIME_FORMAT = "%y-%m-%d %H:%M:%S"


def local_time(when: float, zone: ZoneInfo, layout: str = SEND_TIME_FORMAT) -> str:
    """``when`` written as the gateway writes report times (in the account's zone):
    ``yyyy-MM-dd HH:mm:ss`` in get_report (undocumented), ``layout`` otherwise."""
    return datetime.fromtimestamp(when, zone).strftime(layout)
