"""What both APIs share on the wire: hosts, credentials, and reading JSON or XML replies safely
(nothing but smsgate errors ever escapes a parser)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from smsgate.errors import GatewayError, MalformedResponseError, RateLimitedError, ValidationError
from smsgate.models import HttpResponse
from smsgate.spec import Endpoint
from smsgate_octopush.settings import OctopushSettings

#: Production hosts: the legacy API (the spec's default host) and the JSON API.
LEGACY_HOST = "www.octopush-dm.com"
V1_HOST = "api.octopush.com"
#: Path prefix of the JSON API.
V1_PREFIX = "/v1/public/"


def endpoint_for(endpoint: Endpoint, api: str) -> Endpoint:
    """``endpoint`` with the production host of ``api`` when it names the other API's host.

    The DSN's ``default`` resolves to the legacy host; with ``api=v1`` that means the JSON
    API's host. Any other host (a reseller, an emulator) is kept as given.
    """
    if api == "v1" and endpoint.host == LEGACY_HOST:
        return attrs.evolve(endpoint, host=V1_HOST)
    if api == "legacy" and endpoint.host == V1_HOST:
        return attrs.evolve(endpoint, host=LEGACY_HOST)
    return endpoint


def credentials(settings: OctopushSettings) -> tuple[str, str]:
    """The login e-mail and the API key, refused when missing."""
    if not settings.login:
        raise ValidationError(
            "login", "the DSN needs the Octopush account e-mail as its user part", provider="octopush"
        )
    if not settings.api_key:
        raise ValidationError("api_key", "the DSN needs the Octopush API key as its password part", provider="octopush")
    return settings.login, settings.api_key.reveal()


def decimal(value: Any) -> Decimal | None:
    """A number from a reply, or ``None`` when absent or unreadable (costs are informational)."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def malformed(why: str, response: HttpResponse) -> MalformedResponseError:
    return MalformedResponseError(why, provider="octopush", http_status=response.status, body=response.text())


def http_error(response: HttpResponse) -> GatewayError:
    """An error for a reply that is not the gateway's own document (a proxy's page...)."""
    kind = RateLimitedError if response.status == 429 else GatewayError
    return kind(
        f"HTTP {response.status} without an Octopush reply",
        provider="octopush",
        http_status=response.status,
        body=response.text(),
        retry_after=response.retry_after(),
    )


def _element(node: ET.Element) -> Any:
    children = list(node)
    if not children:
        return (node.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        tag = str(child.tag).strip()
        if tag in out:
            previous = out[tag]
            out[tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[tag] = value
    return out


def xml_document(body: bytes) -> dict[str, Any]:
    """An XML reply (``<octopush>...</octopush>``) as a dict; repeated tags become lists."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("XML with a DOCTYPE is not an Octopush reply")
    try:
        root = ET.fromstring(body)
    except Exception as exc:  # expat raises several kinds (bad encodings, depth...); all mean unreadable
        raise ValueError(f"unreadable XML: {type(exc).__name__}") from None
    value = _element(root)
    if not isinstance(value, dict):
        raise ValueError("empty XML document")
    return value


_BOM = b"\xef\xbb\xbf"


def document(response: HttpResponse) -> dict[str, Any] | None:
    """The reply as a dict (JSON, or XML for the legacy XML endpoints), ``None`` when it is
    neither.

    Tolerant of what a PHP front end adds: a UTF-8 byte-order mark, surrounding whitespace or
    CRLF, a body in Latin-1 rather than UTF-8, and the whole document wrapped in an
    ``{"octopush": {...}}`` object (the XML root kept by an XML-to-JSON conversion).
    """
    body = response.body.strip()
    if body.startswith(_BOM):
        body = body[len(_BOM) :].strip()
    try:
        if body.startswith(b"<"):
            value: Any = xml_document(body)
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = body.decode("latin-1")
            value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("octopush"), dict):
        value = value["octopush"]
    return value if isinstance(value, dict) else None
