"""Requests of the legacy API (``www.octopush-dm.com``): form POSTs in UTF-8, credentials in
the body (``user_login``, ``api_key``), JSON replies from ``/api/sms/json``."""

from __future__ import annotations

from smsgate.idempotency import alnum_key
from smsgate.models import Batch, HttpRequest
from smsgate.spec import Endpoint
from smsgate_octopush import rules, wire
from smsgate_octopush.settings import OctopushSettings

SEND_PATH = "/api/sms/json"
CREDIT_PATH = "/api/credit"


def send_fields(batch: Batch, settings: OctopushSettings) -> dict[str, str]:
    """The form fields of a send, in the order the clients send them; raises
    ``ValidationError`` for what the gateway would refuse."""
    login, key = wire.credentials(settings)
    text = batch.text
    sms_type = settings.legacy_type
    rules.check_legacy_text(text)
    rules.check_stop_mention(text, sms_type, batch.recipients)
    sender = rules.sender_for(batch, settings)
    columns = rules.merge_columns(batch, settings)
    fields = {
        "user_login": login,
        "api_key": key,
        "sms_text": text,
        "sms_recipients": ",".join(batch.recipients),
        "sms_type": sms_type,
    }
    if sender is not None:
        fields["sms_sender"] = sender
    for name in ("sms_mode", "sending_date", "sending_time"):
        if name in batch.schedule:
            fields[name] = batch.schedule[name]
    if settings.simulation:
        fields["request_mode"] = "simu"
    fields["request_id"] = alnum_key(batch.dedup_key)  # the key bound to the batch's content
    if settings.with_replies:
        fields["with_replies"] = "1"
    if settings.transactional:
        fields["transactional"] = "1"
    if settings.msisdn_sender:
        fields["msisdn_sender"] = "1"
    for name, values in columns.items():
        field, _ = rules.MERGE_FIELDS[name]
        if field is not None:
            fields[field] = ",".join(values)
    if settings.request_keys:
        fields["request_keys"] = settings.request_keys
        fields["request_sha1"] = rules.signature(settings.request_keys, fields)
    return fields


def send_request(batch: Batch, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    return HttpRequest.form(endpoint.url(SEND_PATH), send_fields(batch, settings))


def credit_request(settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    """The account's credit in euros (``/api/credit``)."""
    login, key = wire.credentials(settings)
    return HttpRequest.form(endpoint.url(CREDIT_PATH), {"user_login": login, "api_key": key})
