"""Plain data and text for the CLI: stable JSON shapes (through cattrs) and small tables."""

from __future__ import annotations

import enum
import functools
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from smsgate.errors import SmsgateError
from smsgate.models import Balance, DeliveryReport, HttpRequest, SendResult, Status
from smsgate.plugins import Provider
from smsgate.spec import Secret
from smsgate.text import Encoding, TextInfo

if TYPE_CHECKING:
    import cattrs


@functools.cache
def _converter() -> cattrs.Converter:
    """Built on first use: importing cattrs costs ``smsgate providers`` about 8 ms."""
    import cattrs

    converter = cattrs.Converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(Secret, lambda _: "***")
    converter.register_unstructure_hook(type, lambda t: t.__name__)
    converter.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda e: e.value
    )
    converter.register_unstructure_hook_func(
        lambda t: t is frozenset or getattr(t, "__origin__", None) is frozenset, lambda v: sorted(v)
    )
    return converter


def plain(value: Any) -> Any:
    """Any model value as JSON-ready plain data."""
    return _converter().unstructure(value)


def _flat(value: Any) -> dict[str, Any]:
    """An attrs instance whose fields are scalars and frozensets (``Capabilities``) as
    :func:`plain` gives it, without cattrs: ``smsgate providers`` needs nothing else of it."""
    fields = {f.name: getattr(value, f.name) for f in attrs.fields(type(value))}
    return {name: sorted(v) if isinstance(v, frozenset) else v for name, v in fields.items()}


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


_COLOURS = {"accepted": "32", "scheduled": "36", "rejected": "31", "unknown": "33", "delivered": "32", "failed": "31"}
_ORDER = [s.value for s in Status]


def colour_enabled(out: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Colours only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    env = os.environ if env is None else env
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty()) and not env.get("NO_COLOR")


def paint(word: str, colour: bool) -> str:
    """``word`` in its status colour when ``colour`` is on."""
    code = _COLOURS.get(word.strip())
    return f"\033[{code}m{word}\033[0m" if colour and code else word


def encoding_name(info: TextInfo) -> str:
    return "GSM-7" if info.encoding is Encoding.GSM7 else "UCS-2"


def summary(res: SendResult) -> str:
    """One line: counts per status, recipients and requests (``2 accepted, 1 rejected ...``)."""
    counts = Counter(o.status.value for o in res.outcomes)
    text = ", ".join(f"{counts[s]} {s}" for s in _ORDER if counts[s]) or "no recipient"
    noun = "request" if res.requests == 1 else "requests"
    cost = f", cost {res.cost}" if res.cost is not None else ""
    return f"{text} ({len(res.outcomes)} recipient(s), {res.requests} {noun}{cost})"


def result_text(res: SendResult, info: TextInfo | None = None, *, colour: bool = False) -> str:
    """A send as a table: one row per recipient with its parts, then a one-line summary.

    ``info`` (the text's analysis) adds a line with the message's encoding and parts."""
    head = ""
    if info is not None:
        noun = "part" if info.parts == 1 else "parts"
        head = f"{res.provider}: {info.parts} {noun}, {encoding_name(info)} ({info.length} {info.units})\n"
    planned = str(info.parts) if info is not None else ""
    rows = [
        [
            o.recipient,
            o.status.value,
            str(o.parts) if o.parts else planned,
            o.message_id or "",
            o.code or "",
            o.reason or "",
        ]
        for o in res.outcomes
    ]
    style = (lambda i, cell: paint(cell, colour) if i == 1 else cell) if colour else None
    text = head + table(["recipient", "status", "parts", "message id", "code", "reason"], rows, style=style)
    text += "\n" + summary(res)
    if res.error is not None:
        text += f"\nerror: {res.error}"
    return text


def balance_text(balance: Balance) -> str:
    """``balance: 12.50 EUR`` and the gateway's details, one per line."""
    unit = f" {balance.unit}" if balance.unit else ""
    lines = [f"balance: {balance.amount}{unit}"]
    lines += [f"  {k}: {v}" for k, v in sorted(balance.details.items())]
    return "\n".join(lines)


def reports_text(reports: Sequence[DeliveryReport], *, colour: bool = False) -> str:
    """Delivery reports as a table."""
    rows = [
        [
            r.message_id,
            r.recipient or "",
            r.status.value,
            r.code or "",
            r.reason or "",
            r.at.isoformat() if r.at else "",
        ]
        for r in reports
    ]
    style = (lambda i, cell: paint(cell, colour) if i == 2 else cell) if colour else None
    return table(["message id", "recipient", "status", "code", "reason", "at"], rows, style=style)


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
        "capabilities": _flat(spec.capabilities),
    }


def capability_summary(caps: Mapping[str, Any]) -> str:
    parts = [f"{caps['max_recipients']}/request", f"{caps['max_parts']} parts"]
    if caps.get("dedup"):
        parts.append(f"dedup {caps['dedup']}")
    if caps.get("scheduling"):
        parts.append("scheduling")
    parts.append(",".join(caps.get("operations", ())))
    if caps.get("inbound"):
        parts.append("inbound " + "+".join(sorted(caps["inbound"], key=("push", "pull").index)))
    return " · ".join(parts)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, style: Callable[[int, str], str] | None = None
) -> str:
    """Columns padded to their widest cell; ``style(column, cell)`` may decorate a cell (colours)
    without changing the layout."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()
    rule = "  ".join("-" * w for w in widths)

    def cell(i: int, value: str, width: int) -> str:
        text = str(value)
        return (style(i, text) if style else text) + " " * (width - len(text))

    body = ["  ".join(cell(i, c, w) for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    return "\n".join([line, rule, *body])
