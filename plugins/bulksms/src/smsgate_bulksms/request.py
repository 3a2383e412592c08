"""The build handlers, one exact-typed function per operation (registered in ``__init__``):
every EAPI call is a form POST with ISO-8859-1 values.

The documentation shows GET in its examples but asks for POST in production, so every request
here is ``application/x-www-form-urlencoded`` POST. Credentials are the ``username`` and
``password`` fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smsgate.errors import MessageTooLongError, ValidationError
from smsgate.idempotency import int_key
from smsgate.models import BalanceQuery, Batch, Call, HttpRequest, Quote, Send, StatusQuery
from smsgate.spec import Endpoint
from smsgate.text import analyse
from smsgate_bulksms.encoding import LATIN1, Encoded, batch_csv, encode_text
from smsgate_bulksms.settings import BulkSmsSettings, sender_problem

#: The most parts a text may take (``concat_text_sms_max_parts``): no documented maximum;
#: 8 is the largest value known clients send.
MAX_PARTS = 8
SEND_BATCH = "/eapi/submission/send_batch/1/1.0"
GET_REPORT = "/eapi/status_reports/get_report/2/2.0"
GET_REPORT_V1 = "/eapi/1.0/get_report.mc"
GET_REPORT_V1_PORT = 7512
GET_CREDITS = "/eapi/user/get_credits/1/1.1"
Fields = list[tuple[str, str]]


def send_path(settings: BulkSmsSettings) -> str:
    """``send_sms`` 2.0, or the 1.x version the ``api_version`` option names."""
    if settings.v2:
        return "/eapi/submission/send_sms/2/2.0"
    return f"/eapi/submission/send_sms/1/{settings.api_version}"


def quote_path(settings: BulkSmsSettings) -> str:
    """``quote_sms`` 2.0, or its 1.x form (``1/current`` or the 1.1 version) for v1 accounts."""
    if settings.v2:
        return "/eapi/submission/quote_sms/2/2.0"
    return "/eapi/submission/quote_sms/1/" + ("current" if settings.api_version == "current" else "1.1")


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _form(endpoint: Endpoint, path: str, fields: Fields, *, port: int | None = None) -> HttpRequest:
    for name, value in fields:
        try:
            value.encode(LATIN1)
        except UnicodeEncodeError:
            raise ValidationError(name, "must be ISO-8859-1 text (the EAPI's form encoding)") from None
    return HttpRequest.form(endpoint.url(path, port=port), fields, encoding=LATIN1)


def _credentials(settings: BulkSmsSettings) -> Fields:
    return [("username", settings.username), ("password", settings.password.reveal())]


def _sender(batch_sender: str | None, settings: BulkSmsSettings) -> str | None:
    sender = batch_sender if batch_sender is not None else settings.sender
    problem = None if sender is None else sender_problem(sender)
    if problem:
        raise ValidationError("sender", problem)
    if sender is not None and settings.repliable:
        raise ValidationError("repliable", "cannot be combined with a sender id")
    return sender


def _message_options(
    sender: str | None, flash: bool, settings: BulkSmsSettings, schedule: Mapping[str, str], *, single: bool
) -> Fields:
    """The parameters a message's settings add, in the documentation's order. ``single`` is
    send_sms (and quote_sms); send_batch takes no ``strip_dup_recipients``."""
    fields: Fields = []
    if sender is not None:
        fields.append(("sender", sender))
        fields.append(("repliable", "0"))  # the docs: "set repliable=0 to be safe" with a sender
    elif settings.repliable is not None:
        fields.append(("repliable", _flag(settings.repliable)))
    msg_class = settings.msg_class
    if flash:
        if msg_class not in (None, 0):
            raise ValidationError("flash", f"a flash message is msg_class=0, not msg_class={msg_class}")
        msg_class = 0
    if msg_class is not None:
        fields.append(("msg_class", str(msg_class)))
    if settings.want_report is not None:
        fields.append(("want_report", _flag(settings.want_report)))
    if settings.routing_group is not None:
        # send_sms 1.x knew the parameter as cost_route (the v1-era parameter list); the 2.0
        # documentation keeps cost_route as an alias of routing_group, so it is safe on both.
        name = "cost_route" if single and not settings.v2 else "routing_group"
        fields.append((name, str(settings.routing_group)))
    if settings.source_id is not None:
        fields.append(("source_id", settings.source_id))
    if single and settings.strip_dup_recipients is not None:
        fields.append(("strip_dup_recipients", _flag(settings.strip_dup_recipients)))
    fields.extend(schedule.items())
    if schedule and settings.scheduling_description is not None:
        fields.append(("scheduling_description", settings.scheduling_description))
    return fields


def _test_switches(settings: BulkSmsSettings) -> Fields:
    if settings.test_always_succeed:
        return [("test_always_succeed", "1")]
    if settings.test_always_fail:
        return [("test_always_fail", "1")]
    return []


def _concat(parts: int) -> Fields:
    if parts > MAX_PARTS:
        raise MessageTooLongError("text", f"{parts} parts exceed the maximum of {MAX_PARTS} parts")
    return [("allow_concat_text_sms", "1"), ("concat_text_sms_max_parts", str(parts))] if parts > 1 else []


def stop_dup_id(batch: Batch) -> str:
    """The batch's ``stop_dup_id``: its ``dedup_key`` (the key bound to the content) as an
    integer in 1..2147483647, so a key reused for other content is never replayed as the first."""
    return str(int_key(batch.dedup_key))


def groups_stop_dup_id(key: str, fields: Fields) -> str:
    """``send_to_groups``' ``stop_dup_id``: the caller's key bound to a digest of what the call
    sends (everything but the credentials), like :attr:`Batch.dedup_key`."""
    content = "\x1e".join(f"{name}\x1f{value}" for name, value in fields if name not in ("username", "password"))
    import hashlib  # here, not at the top: discovery does not need it

    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
    return str(int_key(f"{key}#{digest}"))


def _digits(number: str) -> str:
    return number[1:] if number.startswith("+") else number


def encoded_items(batch: Batch) -> list[Encoded]:
    """Each recipient's text as the EAPI carries it."""
    cache: dict[str, Encoded] = {}
    for item in batch.items:
        if item.text not in cache:
            cache[item.text] = encode_text(item.text, item.info)
    return [cache[item.text] for item in batch.items]


def send_sms_fields(batch: Batch, settings: BulkSmsSettings, *, quote: bool = False) -> Fields:
    """``send_sms`` (or ``quote_sms``) parameters for a batch sharing one text."""
    message = batch.message
    encoded = encode_text(batch.text, batch.info)
    fields = _credentials(settings)
    fields.append(("message", encoded.message))
    if encoded.dca is not None:
        fields.append(("dca", encoded.dca))
    fields.append(("msisdn", ",".join(_digits(r) for r in batch.recipients)))
    if settings.dest_group_id:
        fields.append(("dest_group_id", ",".join(settings.dest_group_id)))
    fields += _message_options(_sender(message.sender, settings), message.flash, settings, batch.schedule, single=True)
    if not quote:
        fields.append(("stop_dup_id", stop_dup_id(batch)))
        fields += _test_switches(settings)
    return fields + _concat(encoded.parts)


def send_batch_fields(batch: Batch, settings: BulkSmsSettings) -> Fields:
    """``send_batch`` parameters: one CSV line per recipient, each with its own text."""
    if settings.dest_group_id:
        raise ValidationError("dest_group_id", "send_batch (personalised texts) takes no groups")
    encoded = encoded_items(batch)
    unicode = any(e.dca for e in encoded)
    header = ["msisdn", "message", "dca"] if unicode else ["msisdn", "message"]
    rows: list[Sequence[str]] = []
    for item, enc in zip(batch.items, encoded):
        row = [_digits(item.recipient), enc.message]
        rows.append([*row, enc.dca or "7bit"] if unicode else row)
    message = batch.message
    fields = _credentials(settings)
    fields.append(("batch_data", batch_csv(header, rows)))
    fields += _message_options(_sender(message.sender, settings), message.flash, settings, batch.schedule, single=False)
    fields.append(("stop_dup_id", stop_dup_id(batch)))
    fields += _test_switches(settings)
    return fields + _concat(max(e.parts for e in encoded))


def build_status(operation: StatusQuery, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``get_report`` for one batch id (2.0, or 1.0 on its own port for v1 accounts)."""
    ids = tuple(dict.fromkeys(operation.message_ids))
    if len(ids) != 1 or not (ids[0].isascii() and ids[0].isdigit()):
        raise ValidationError("message_id", f"get_report takes exactly one numeric batch id per request, not {ids!r}")
    fields = _credentials(settings)
    if not settings.v2:
        fields.append(("msg_id", ids[0]))
        if operation.recipient:  # "supply if querying the status of a single recipient"
            fields.append(("msisdn", _digits(operation.recipient)))
        port = settings.report_port or GET_REPORT_V1_PORT
        return _form(endpoint, GET_REPORT_V1, fields, port=port)
    fields.append(("batch_id", ids[0]))
    if operation.recipient:
        fields.append(("msisdn", _digits(operation.recipient)))
    if settings.report_fields:
        fields.append(("optional_fields", ",".join(settings.report_fields)))
    return _form(endpoint, GET_REPORT, fields, port=settings.report_port)


def build_call(operation: Call, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``Gateway.call("send_to_groups", groups=..., text=..., key=..., sender=None, flash=False)``."""
    if operation.name != "send_to_groups":
        raise ValidationError("call", f"BulkSMS has no operation {operation.name!r} (known: send_to_groups)")
    params = operation.params
    unknown = set(params) - {"groups", "text", "key", "sender", "flash"}
    if unknown:
        raise ValidationError("send_to_groups", f"unknown parameter(s) {', '.join(sorted(unknown))}")
    groups = params.get("groups")
    groups = (groups,) if isinstance(groups, (str, int)) else tuple(groups or ())
    text, key = params.get("text"), params.get("key")
    if not groups or not all(str(g).isascii() and str(g).isdigit() for g in groups):
        raise ValidationError("groups", "give one or more numeric phonebook group ids")
    if not isinstance(text, str) or not text:
        raise ValidationError("text", "must be a non-empty string")
    if not isinstance(key, str) or not key:
        raise ValidationError("key", "is required: it becomes stop_dup_id, which makes resends safe")
    encoded = encode_text(text, analyse(text))
    fields = _credentials(settings)
    fields.append(("message", encoded.message))
    if encoded.dca is not None:
        fields.append(("dca", encoded.dca))
    fields.append(("dest_group_id", ",".join(str(g) for g in groups)))
    sender = params.get("sender")
    fields += _message_options(_sender(sender, settings), bool(params.get("flash")), settings, {}, single=True)
    fields.append(("stop_dup_id", groups_stop_dup_id(key, fields)))
    fields += _test_switches(settings)
    return _form(endpoint, send_path(settings), fields + _concat(encoded.parts))


def build_send(operation: Send, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``send_sms`` for a batch sharing one text, ``send_batch`` for personalised texts."""
    batch = operation.batch
    if batch.personalised:
        return _form(endpoint, SEND_BATCH, send_batch_fields(batch, settings))
    return _form(endpoint, send_path(settings), send_sms_fields(batch, settings))


def build_quote(operation: Quote, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest:
    return _form(endpoint, quote_path(settings), send_sms_fields(operation.batch, settings, quote=True))


def build_balance(operation: BalanceQuery, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest:
    return _form(endpoint, GET_CREDITS, _credentials(settings))
