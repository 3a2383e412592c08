"""The dashboard page ``smsgate serve`` shows at ``/dashboard``: one server-rendered HTML page.

No build step and no external asset: the CSS is inline, the chart is SVG drawn here, and the
page is readable on a phone. It shows, from the campaign :class:`~smsgate.store.Store`, every
campaign's progress and rows per state, the delivery rate over time (rows that reached
``delivered``, ``undelivered`` or ``expired``, by when), the recent errors (rejected, unknown,
undelivered and expired rows: campaign, row number, code, reason — never the recipient), and per
gateway its circuit breaker (:func:`smsgate.health.states`: as routers in any process published
it in the store, or this process's ``Health.shared()``) and its counters from
:data:`smsgate.telemetry.METRICS`.

Every number on the page carries ``data-metric`` (and ``data-campaign``, ``data-state``,
``data-gateway``... naming what it counts), so that a script or a test can read it from the DOM.
All text is escaped; digit runs that look like phone numbers are masked in reasons.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from smsgate import telemetry
from smsgate.health import Health, clean_error, states
from smsgate.store import DELIVERY, PLANNED, SENDING, STATES, Row, Store

__all__ = ["Dashboard", "collect", "page", "render"]

#: Row states shown as errors, newest first.
ERROR_STATES = ("rejected", "unknown", "undelivered", "expired")
#: Chart bucket widths to choose from (seconds): the smallest giving at most ``MAX_BUCKETS``.
BUCKET_SIZES = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 24
MIN_BUCKETS = 12  # the chart always spans at least this many (a young campaign is not one wide bar)
#: Rows read per state and campaign for the chart and the errors (the page stays fast).
ROW_LIMIT = 20_000


@attrs.frozen
class CampaignView:
    name: str
    gateway: str
    state: str
    total: int
    counts: Mapping[str, int]

    @property
    def done(self) -> int:
        """Rows past sending (settled, delivered or failed)."""
        return sum(n for s, n in self.counts.items() if s not in (PLANNED, SENDING))

    @property
    def percent(self) -> int:
        total = max(self.total, sum(self.counts.values()))
        return int(100 * self.done / total) if total else 0


@attrs.frozen
class Bucket:
    start: float
    delivered: int
    failed: int

    @property
    def rate(self) -> int | None:
        n = self.delivered + self.failed
        return round(100 * self.delivered / n) if n else None


@attrs.frozen
class GatewayView:
    name: str
    breaker: str | None
    attempts: Mapping[str, int]  # by verdict
    recipients: Mapping[str, int]  # by status
    reports: int
    last_error: str | None


@attrs.frozen
class ErrorView:
    campaign: str
    row: int
    state: str
    code: str | None
    reason: str | None
    at: float | None


@attrs.frozen
class Dashboard:
    """What the page shows (plain data; :func:`render` turns it into HTML)."""

    generated_at: float
    campaigns: tuple[CampaignView, ...]
    buckets: tuple[Bucket, ...]
    bucket_size: int
    gateways: tuple[GatewayView, ...]
    errors: tuple[ErrorView, ...]
    has_store: bool = True

    @property
    def delivered(self) -> int:
        return sum(b.delivered for b in self.buckets)

    @property
    def failed(self) -> int:
        return sum(b.failed for b in self.buckets)


def _rows(store: Store, campaign: str, state: str) -> list[Row]:
    return store.rows_in_state(campaign, state, limit=ROW_LIMIT)


def _buckets(events: Sequence[tuple[float, bool]], now: float) -> tuple[tuple[Bucket, ...], int]:
    if not events:
        return (), BUCKET_SIZES[0]
    first = min(t for t, _ in events)
    span = max(now, max(t for t, _ in events)) - first
    size = next((s for s in BUCKET_SIZES if span / s < MAX_BUCKETS), BUCKET_SIZES[-1])
    end = (max(now, max(t for t, _ in events)) // size + 1) * size
    start = min(max(first // size * size, end - MAX_BUCKETS * size), end - MIN_BUCKETS * size)
    count = int((end - start) // size)
    delivered, failed = [0] * count, [0] * count
    for at, ok in events:
        index = int((at - start) // size)
        if 0 <= index < count:
            (delivered if ok else failed)[index] += 1
    return tuple(Bucket(start + i * size, delivered[i], failed[i]) for i in range(count)), size


def collect(
    store: Store | None,
    *,
    health: Health | None = None,
    metrics: telemetry.Metrics | None = None,
    errors: int = 10,
    clock: Callable[[], float] = time.time,
) -> Dashboard:
    """Read what the page shows from the store, the breakers and the metrics."""
    metrics = telemetry.METRICS if metrics is None else metrics
    now = clock()
    campaigns: list[CampaignView] = []
    events: list[tuple[float, bool]] = []
    failures: list[ErrorView] = []
    if store is not None:
        for record in sorted(store.campaigns(), key=lambda c: (-c.updated_at, c.name)):
            counts = store.counts(record.name)
            campaigns.append(
                CampaignView(record.name, record.gateway, record.state, record.total, dict(sorted(counts.items())))
            )
            for state in DELIVERY:
                if counts.get(state):
                    for row in _rows(store, record.name, state):
                        at = row.delivered_at or row.settled_at
                        if at is not None:
                            events.append((at, state == "delivered"))
            for state in ERROR_STATES:
                if counts.get(state):
                    for row in _rows(store, record.name, state):
                        at = row.delivered_at if state in DELIVERY else row.settled_at
                        failures.append(ErrorView(record.name, row.row, state, row.code, row.reason, at))
    failures.sort(key=lambda e: (-(e.at or 0.0), e.campaign, e.row))
    buckets, size = _buckets(events, now)

    breakers = {str(s["gateway"]): s for s in states(store, health, clock)}
    names = set(breakers)
    attempts: dict[str, dict[str, int]] = {}
    recipients: dict[str, dict[str, int]] = {}
    reports: dict[str, int] = {}
    for table, metric, label in (
        (attempts, "smsgate.attempts", "verdict"),
        (recipients, "smsgate.recipients", "status"),
    ):
        for labels, value in metrics.series(metric):
            gateway = labels.get("gateway", "")
            table.setdefault(gateway, {})[labels.get(label, "")] = int(value)
            names.add(gateway)
    for labels, value in metrics.series("smsgate.delivery_reports"):
        gateway = labels.get("gateway", "")
        reports[gateway] = reports.get(gateway, 0) + int(value)
        names.add(gateway)
    gateways = tuple(
        GatewayView(
            name,
            str(breakers[name]["state"]) if name in breakers else None,
            dict(sorted(attempts.get(name, {}).items())),
            dict(sorted(recipients.get(name, {}).items())),
            reports.get(name, 0),
            breakers[name].get("last_error") if name in breakers else None,
        )
        for name in sorted(n for n in names if n)
    )
    return Dashboard(now, tuple(campaigns), buckets, size, gateways, tuple(failures[:errors]), store is not None)


# -- HTML ------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _clean(text: str | None) -> str:
    """A reason as shown: known secrets redacted, phone-number-like digit runs masked."""
    return clean_error(text) or ""


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: int, metric: str, **data: str) -> str:
    attrs_ = "".join(f' data-{k.replace("_", "-")}="{_e(v)}"' for k, v in data.items())
    return f'<span class="n" data-metric="{_e(metric)}"{attrs_} data-value="{int(value)}">{int(value)}</span>'


_CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
color:#1b1f24;background:#f4f5f7}header{background:#1f3a5f;color:#fff;padding:12px 16px}
h1{font-size:1.2em;margin:0}header p{margin:2px 0 0;font-size:.85em;opacity:.8}
main{padding:8px;max-width:1100px;margin:auto;display:grid;gap:12px;grid-template-columns:1fr}
@media(min-width:800px){main{grid-template-columns:1fr 1fr}#campaigns,#errors{grid-column:1/-1}}
section{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:0}
h2{font-size:1em;margin:0 0 8px}.card{border-top:1px solid #e3e6ea;padding:8px 0}.card:first-of-type{border:0}
.bar{height:12px;background:#e3e6ea;border-radius:6px;overflow:hidden;margin:4px 0}
.bar span{display:block;height:100%;background:#2e7d32}.muted{color:#667;font-size:.85em}
.states{display:flex;flex-wrap:wrap;gap:4px 10px;font-size:.85em}.states b{font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.85em}td,th{text-align:left;padding:4px;
border-bottom:1px solid #eef}.scroll{overflow-x:auto}.closed{color:#2e7d32}.open{color:#c62828}
.half-open{color:#ef6c00}svg{width:100%;height:auto;display:block}.n{font-variant-numeric:tabular-nums}
.big{font-size:1.6em;font-weight:600}
"""


def _campaigns(data: Dashboard) -> str:
    if not data.has_store:
        return '<p class="muted">No campaign store given to the receiver.</p>'
    if not data.campaigns:
        return '<p class="muted">No campaigns yet.</p>'
    parts = []
    for c in data.campaigns:
        states = "".join(
            f"<span>{_e(state)} <b>{_num(n, 'campaign.rows', campaign=c.name, state=state)}</b></span>"
            for state in STATES
            if (n := c.counts.get(state, 0))
        )
        parts.append(
            f'<div class="card" data-campaign="{_e(c.name)}"><div><b>{_e(c.name)}</b> '
            f'<span class="muted">{_e(c.gateway)} · {_e(c.state)}</span></div>'
            f'<div class="bar" role="progressbar" aria-valuenow="{c.percent}" aria-valuemin="0" '
            f'aria-valuemax="100"><span style="width:{c.percent}%"></span></div>'
            f'<div class="muted">{_num(c.done, "campaign.done", campaign=c.name)} of '
            f"{_num(c.total, 'campaign.total', campaign=c.name)} rows done "
            f"({_num(c.percent, 'campaign.percent', campaign=c.name)}%)</div>"
            f'<div class="states">{states}</div></div>'
        )
    return "".join(parts)


def _chart(data: Dashboard) -> str:
    """Delivered (green) and failed (red) rows per bucket as stacked bars, with the rate."""
    total = data.delivered + data.failed
    rate = round(100 * data.delivered / total) if total else 0
    summary = (
        f'<p><span class="big">{_num(rate, "delivery.rate")}%</span> delivered '
        f"({_num(data.delivered, 'delivery.delivered')} delivered, "
        f"{_num(data.failed, 'delivery.failed')} undelivered or expired)</p>"
    )
    if not data.buckets:
        return summary + '<p class="muted">No delivery reports yet.</p>'
    width, height, pad = 320, 140, 18
    slot = (width - pad) / len(data.buckets)
    peak = max(max(b.delivered + b.failed for b in data.buckets), 1)
    scale = (height - 2 * pad) / peak
    bars: list[str] = []
    for i, b in enumerate(data.buckets):
        x = pad + i * slot + slot * 0.15
        w = max(slot * 0.7, 1)
        hd, hf = b.delivered * scale, b.failed * scale
        base = height - pad
        label = f"{_when(b.start)}: {b.delivered} delivered, {b.failed} failed"
        bars.append(
            f'<g class="bucket" data-start="{int(b.start)}" data-delivered="{b.delivered}" '
            f'data-failed="{b.failed}" data-rate="{"" if b.rate is None else b.rate}"><title>{_e(label)}</title>'
            f'<rect x="{x:.1f}" y="{base - hd:.1f}" width="{w:.1f}" height="{hd:.1f}" fill="#2e7d32"/>'
            f'<rect x="{x:.1f}" y="{base - hd - hf:.1f}" width="{w:.1f}" height="{hf:.1f}" fill="#c62828"/></g>'
        )
    first = datetime.fromtimestamp(data.buckets[0].start, timezone.utc).strftime("%H:%M")
    last = datetime.fromtimestamp(data.buckets[-1].start + data.bucket_size, timezone.utc).strftime("%H:%M")
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width}" y2="{height - pad}" stroke="#99a"/>'
        f'<text x="{pad}" y="{height - 4}" font-size="10" fill="#667">{first}</text>'
        f'<text x="{width}" y="{height - 4}" font-size="10" fill="#667" text-anchor="end">{last} UTC</text>'
        f'<text x="2" y="{pad}" font-size="10" fill="#667">{peak}</text>'
    )
    return (
        summary + f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="delivery rate over time" '
        f'data-bucket-seconds="{data.bucket_size}">{axis}{"".join(bars)}</svg>'
        f'<p class="muted">Per {data.bucket_size // 60} min: green delivered, red undelivered or expired.</p>'
    )


def _gateways(data: Dashboard) -> str:
    if not data.gateways:
        return '<p class="muted">No gateway activity in this process yet.</p>'
    rows = []
    for g in data.gateways:
        ok = g.attempts.get("ok", 0)
        failed = sum(n for v, n in g.attempts.items() if v != "ok")
        verdicts = ", ".join(
            f"{_e(v)} {_num(n, 'gateway.attempts', gateway=g.name, verdict=v)}"
            for v, n in g.attempts.items()
            if v != "ok"
        )
        outcomes = ", ".join(
            f"{_e(s)} {_num(n, 'gateway.recipients', gateway=g.name, status=s)}" for s, n in g.recipients.items()
        )
        breaker = (
            f'<span class="{_e(g.breaker)}" data-metric="gateway.breaker" data-gateway="{_e(g.name)}">'
            f"{_e(g.breaker)}</span>"
            if g.breaker
            else '<span class="muted">no breaker</span>'
        )
        last = f'<div class="muted">last error: {_e(_clean(g.last_error))}</div>' if g.last_error else ""
        rows.append(
            f'<tr data-gateway="{_e(g.name)}"><td><b>{_e(g.name)}</b><br>{breaker}{last}</td>'
            f"<td>{_num(ok, 'gateway.attempts', gateway=g.name, verdict='ok')} ok<br>"
            f"{_num(failed, 'gateway.failed_attempts', gateway=g.name)} failed"
            f"{'<br><span class=muted>' + verdicts + '</span>' if verdicts else ''}</td>"
            f"<td>{outcomes or '-'}</td><td>{_num(g.reports, 'gateway.reports', gateway=g.name)}</td></tr>"
        )
    return (
        '<div class="scroll"><table><thead><tr><th>gateway</th><th>attempts</th><th>recipients</th>'
        f"<th>reports</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _errors(data: Dashboard) -> str:
    if not data.errors:
        return '<p class="muted">No errors.</p>'
    rows = "".join(
        f'<tr class="error" data-campaign="{_e(e.campaign)}" data-row="{e.row}" data-state="{_e(e.state)}">'
        f"<td>{_e(_when(e.at))}</td><td>{_e(e.campaign)} #{e.row}</td><td>{_e(e.state)}</td>"
        f"<td>{_e(e.code or '')}</td><td>{_e(_clean(e.reason))}</td></tr>"
        for e in data.errors
    )
    return (
        '<div class="scroll"><table><thead><tr><th>when</th><th>row</th><th>state</th><th>code</th>'
        f"<th>reason</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def render(data: Dashboard, *, refresh: int = 30) -> str:
    """The page (HTML5, UTF-8); ``refresh`` seconds between reloads (0: none)."""
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh > 0 else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="no-referrer">{meta}<title>smsgate dashboard</title>'
        f"<style>{_CSS}</style></head><body>"
        f'<header><h1>smsgate</h1><p id="generated" data-at="{int(data.generated_at)}">'
        f"{_e(_when(data.generated_at))} · {_num(len(data.campaigns), 'campaigns.count')} campaigns</p></header>"
        f'<main><section id="campaigns"><h2>Campaigns</h2>{_campaigns(data)}</section>'
        f'<section id="delivery"><h2>Delivery rate</h2>{_chart(data)}</section>'
        f'<section id="gateways"><h2>Gateways</h2>{_gateways(data)}</section>'
        f'<section id="errors"><h2>Recent errors</h2>{_errors(data)}</section></main></body></html>'
    )


def page(store: Store | None, **options: Any) -> str:
    """:func:`collect` then :func:`render`."""
    return render(collect(store, **options))
