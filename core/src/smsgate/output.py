"""Plain data and text for the CLI: stable JSON shapes (through cattrs) and small tables."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

import cattrs

from smsgate.errors import SmsgateError
from smsgate.models import HttpRequest, SendResult
from smsgate.plugins import Provider
from smsgate.spec import Secret

_converter = cattrs.Converter()
_converter.register_unstructure_hook(Decimal, str)
_converter.register_unstructure_hook(datetime, datetime.isoformat)
_converter.register_unstructure_hook(Secret, lambda _: "***")
_converter.register_unstructure_hook(type, lambda t: t.__name__)
_converter.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda e: e.value)
_converter.register_unstructure_hook_func(
    lambda t: t is frozenset or getattr(t, "__origin__", None) is frozenset, lambda v: sorted(v)
)


def plain(value: Any) -> Any:
    """Any model value as JSON-ready plain data."""
    return _converter.unstructure(value)


def dump(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def error(error: SmsgateError) -> dict[str, Any]:
    return {"type": type(error).__name__, "message": str(error), "code": error.code, "provider": error.provider}


def result(res: SendResult) -> dict[str, Any]:
    """The stable JSON shape of a send."""
    return {
        "provider": res.provider,
        "key": res.key,
        "ok": res.ok,
        "requests": res.requests,
        "cost": str(res.cost) if res.cost is not None else None,
        "outcomes": [plain(o) for o in res.outcomes],
        "error": error(res.error) if res.error is not None else None,
    }


def result_text(res: SendResult) -> str:
    rows = [[o.recipient, o.status.value, o.message_id or "", o.code or "", o.reason or ""] for o in res.outcomes]
    text = table(["recipient", "status", "message id", "code", "reason"], rows)
    if res.error is not None:
        text += f"\nerror: {res.error}"
    return text


def request(req: HttpRequest) -> dict[str, Any]:
    return {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "body": req.body.decode("utf-8", errors="replace"),
    }


def request_text(req: HttpRequest) -> str:
    headers = "".join(f"{k}: {v}\n" for k, v in req.headers)
    body = req.body.decode("utf-8", errors="replace")
    return f"{req.method} {req.url}\n{headers}\n{body}\n"


def provider(p: Provider) -> dict[str, Any]:
    spec = p.spec
    return {
        "name": spec.name,
        "distribution": p.distribution,
        "version": p.version,
        "description": spec.description,
        "default_host": spec.default_host,
        "tls": spec.tls,
        "capabilities": plain(spec.capabilities),
    }


def capability_summary(caps: Mapping[str, Any]) -> str:
    parts = [f"{caps['max_recipients']}/request", f"{caps['max_parts']} parts"]
    if caps.get("dedup"):
        parts.append(f"dedup {caps['dedup']}")
    if caps.get("scheduling"):
        parts.append("scheduling")
    parts.append(",".join(caps.get("operations", ())))
    return " · ".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join([line, rule, *body])
