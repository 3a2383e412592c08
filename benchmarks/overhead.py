"""1. Overhead per message: sequential ``Gateway.send`` against a plain urllib3 keep-alive loop
that sends the very same requests (``gateway.preview(message, redact=False)``) to the very
same server.

Two servers: nginx answering a fixed outbox reply (the server is then not the bottleneck, so
wall time is the client's), and the core's ``OutboxEmulator`` in its own process (a realistic
Python server; it dilutes the wall-time ratio). CPU time is this process's only, so the CPU
ratio is the client's overhead whatever the server. Many short rounds alternate plain and
smsgate; each round gives a paired ratio, and the median of those ratios is reported, which
evens out the load of other work on the machine.
"""

from __future__ import annotations

import cProfile
import http.client
import json
import pstats
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

import smsgate
from benchmarks.common import Headline, Section, Settings, Table, Timing, fmt, median, per_call_us, timed_loop
from benchmarks.servers import EmulatorProcess, Nginx, nginx_binary
from smsgate.models import HttpResponse, Send

RECIPIENT = "+48500600700"
TEXT = "Your order 1234 has shipped and will arrive tomorrow between 9:00 and 12:00."
GOAL = 1.10
NGINX_REPLY = json.dumps({"results": [{"to": RECIPIENT, "id": "ob1"}]}, separators=(",", ":"))
BUDGET = 60.0  # seconds, per timed loop


def messages(prefix: str, n: int) -> list[smsgate.Message]:
    """``n`` distinct messages (distinct keys, so that the emulator's de-duplication stays out)."""
    return [smsgate.Message(to=RECIPIENT, text=TEXT, key=f"{prefix}-{i}") for i in range(n)]


class Plain:
    """What a hand-written client does: one urllib3 PoolManager (keep-alive), send, check the
    status, read the JSON."""

    def __init__(self) -> None:
        self.pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5.0, read=30.0))
        self.failures = 0

    def send(self, item: object) -> None:
        r: smsgate.HttpRequest = item  # type: ignore[assignment]
        reply = self.pool.request(r.method, r.url, body=r.body or None, headers=dict(r.headers), redirect=False)
        if reply.status != 200 or not json.loads(reply.data).get("results"):
            self.failures += 1


class PlainHttpClient:
    """The leanest Python client: one standard-library ``http.client`` connection, kept alive,
    no pool and no checks beyond the status (``benchmarks.instructions --overhead`` only)."""

    def __init__(self) -> None:
        self.conns: dict[str, http.client.HTTPConnection] = {}
        self.failures = 0

    def send(self, item: object) -> None:
        r: smsgate.HttpRequest = item  # type: ignore[assignment]
        origin, _, path = r.url.partition("://")[2].partition("/")
        conn = self.conns.get(origin) or self.conns.setdefault(origin, http.client.HTTPConnection(origin, timeout=30))
        conn.request(r.method, "/" + path, body=r.body or None, headers=dict(r.headers))
        reply = conn.getresponse()
        if reply.status != 200 or not json.loads(reply.read()).get("results"):
            self.failures += 1


class Ours:
    """``Gateway.send``, one message at a time."""

    def __init__(self, gateway: smsgate.Gateway) -> None:
        self.gateway = gateway
        self.failures = 0

    def send(self, item: object) -> None:
        message: smsgate.Message = item  # type: ignore[assignment]
        if not self.gateway.send(message).ok:
            self.failures += 1


@dataclass
class Rounds:
    plain: list[Timing] = field(default_factory=list)
    ours: list[Timing] = field(default_factory=list)

    def wall_ratio(self) -> float:
        return median([o.wall_us / p.wall_us for p, o in zip(self.plain, self.ours)])

    def cpu_ratio(self) -> float:
        return median([o.cpu_us / p.cpu_us for p, o in zip(self.plain, self.ours)])


@contextmanager
def _server(kind: str) -> Iterator[str]:
    """A DSN for the outbox provider pointing at the server ``kind``."""
    if kind == "nginx":
        with Nginx(NGINX_REPLY) as nginx:
            yield f"outbox://user:secret@127.0.0.1:{nginx.port}?tls=false"
    else:
        with EmulatorProcess("outbox", {"credit": 10**9}) as emu:
            yield emu.dsn()


def measure(dsn: str, n: int, rounds: int) -> Rounds:
    """``rounds`` paired rounds of ``n`` messages each, alternating which client goes first."""
    out = Rounds()
    with smsgate.connect(dsn) as gateway:
        plain, ours = Plain(), Ours(gateway)
        warm = messages("warm", 50)
        timed_loop([gateway.preview(m, redact=False)[0] for m in warm], plain.send, BUDGET)
        timed_loop(warm, ours.send, BUDGET)  # same keys: the emulator replays, fine for a warm-up
        for r in range(rounds):
            requests = [gateway.preview(m, redact=False)[0] for m in messages(f"plain{r}", n)]
            batch = messages(f"gw{r}", n)
            if r % 2 == 0:
                out.plain.append(timed_loop(requests, plain.send, BUDGET))
                out.ours.append(timed_loop(batch, ours.send, BUDGET))
            else:
                out.ours.append(timed_loop(batch, ours.send, BUDGET))
                out.plain.append(timed_loop(requests, plain.send, BUDGET))
        if plain.failures or ours.failures:
            raise RuntimeError(f"failed sends: plain {plain.failures}, smsgate {ours.failures}")
    return out


def own_work(dsn: str, budget: float) -> Table:
    """smsgate's own CPU per message without any network: the parts it adds to a plain loop."""
    table = Table(["step (no network)", "µs/message"], caption="smsgate's own work per message, timed alone:")
    with smsgate.connect(dsn) as gateway:
        message = messages("own", 1)[0]
        plan, _ = gateway.prepare(message)
        reply = HttpResponse(
            200, NGINX_REPLY.encode(), (("Content-Type", "application/json"), ("Content-Length", "48"))
        )
        operation = Send(plan.batches[0])
        table.add("Message(...) construction", fmt(per_call_us(lambda: messages("own", 1), budget=budget), 1))
        table.add(
            "plan + build_request (Gateway.prepare)", fmt(per_call_us(lambda: gateway.prepare(message), budget=budget))
        )
        table.add(
            "HttpResponse + parse_response hook",
            fmt(
                per_call_us(
                    lambda: gateway.hooks.parse_response(
                        operation, HttpResponse(reply.status, reply.body, reply.headers), plan.settings
                    ),
                    budget=budget,
                )
            ),
        )
    return table


def in_context(dsn: str, n: int, rounds: int) -> Table:
    """smsgate's own steps run in the plain loop, between its requests: what they cost there,
    as opposed to timed alone."""
    table = Table(
        ["client (same server, alternating rounds)", "CPU µs/msg (median round)", "over plain"],
        caption="The same own work, run between requests (median of rounds):",
    )
    with smsgate.connect(dsn) as gateway:
        plain, ours = Plain(), Ours(gateway)

        def plus(item: object) -> None:
            message: smsgate.Message = item  # type: ignore[assignment]
            plan, requests = gateway.prepare(message)
            r = requests[0]
            reply = plain.pool.request(r.method, r.url, body=r.body or None, headers=dict(r.headers), redirect=False)
            response = HttpResponse(reply.status, reply.data, tuple(reply.headers.items()))
            gateway.hooks.parse_response(Send(plan.batches[0]), response, plan.settings)

        cpu: dict[str, list[float]] = {
            "plain urllib3": [],
            "plain + Gateway.prepare + parse_response hook": [],
            "Gateway.send": [],
        }
        timed_loop(messages("ctx-warm", 30), plus, BUDGET)
        for r in range(rounds):
            requests = [gateway.preview(m, redact=False)[0] for m in messages(f"ctx-p{r}", n)]
            cpu["plain urllib3"].append(timed_loop(requests, plain.send, BUDGET).cpu_us)
            cpu["plain + Gateway.prepare + parse_response hook"].append(
                timed_loop(messages(f"ctx-x{r}", n), plus, BUDGET).cpu_us
            )
            cpu["Gateway.send"].append(timed_loop(messages(f"ctx-g{r}", n), ours.send, BUDGET).cpu_us)
    base = median(cpu["plain urllib3"])
    for label, values in cpu.items():
        table.add(
            label,
            fmt(median(values)),
            f"{median(values) - base:+,.1f} µs" if values is not cpu["plain urllib3"] else "",
        )
    return table


def profile(dsn: str, n: int) -> tuple[Table, Table]:
    """cProfile of ``n`` sends: time per phase and the functions with the most own time."""
    batch = messages("profile", n)
    with smsgate.connect(dsn) as gateway:
        timed_loop(messages("pwarm", 20), Ours(gateway).send, BUDGET)
        profiler = cProfile.Profile()
        profiler.enable()
        for message in batch:
            gateway.send(message)
        profiler.disable()
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())

    def cumulative(file_end: str, name: str) -> float:
        return float(sum(v[3] for (f, _, fn), v in entries.items() if fn == name and f.endswith(file_end)))

    send_total = cumulative("smsgate/gateway.py", "send") or total
    phases = Table(
        ["phase (cumulative, cProfile)", "µs/message", "% of Gateway.send"],
        caption="Where a send's time goes (cProfile; its overhead inflates Python code):",
    )
    for label, file_end, name in (
        ("plan: numbers, text, batches (plan.plan)", "smsgate/plan.py", "plan"),
        ("build_request hook (Hooks.build_request)", "smsgate/plugins.py", "build_request"),
        ("HTTP round trip (Transport.send)", "smsgate/transport.py", "send"),
        ("  of which urllib3 HTTPConnection.request", "urllib3/connection.py", "request"),
        ("  of which urllib3 HTTPConnection.getresponse", "urllib3/connection.py", "getresponse"),
        ("parse_response hook (Hooks.parse_response)", "smsgate/plugins.py", "parse_response"),
        ("outcomes (Gateway._result)", "smsgate/gateway.py", "_result"),
    ):
        value = cumulative(file_end, name)
        phases.add(label, fmt(value / n * 1e6), fmt(value / send_total * 100))

    top = Table(
        ["function (own time)", "µs/message", "% of profiled time", "calls/message"],
        caption="Top 15 functions by own time:",
    )
    ranked = sorted(entries.items(), key=lambda kv: float(kv[1][2]), reverse=True)[:15]
    for (file, line, name), v in ranked:
        top.add(f"{_short(file)}:{line}:{name}", fmt(v[2] / n * 1e6, 2), fmt(v[2] / total * 100), fmt(v[1] / n, 1))
    return phases, top


def _short(file: str) -> str:
    path = Path(file)
    for anchor in ("site-packages", "src", "lib"):
        if anchor in path.parts:
            i = len(path.parts) - 1 - path.parts[::-1].index(anchor)
            return "/".join(path.parts[i + 1 :])
    return file if file.startswith(("<", "~")) else path.name


def run(settings: Settings) -> Section:
    section = Section("overhead", "1. Overhead per message: Gateway.send vs a plain urllib3 loop")
    n, rounds = settings.pick(400, 100), settings.pick(12, 3)
    table = Table(
        [
            "server",
            "client",
            "wall µs/msg (median round)",
            "CPU µs/msg (median round)",
            "msgs/s",
            "wall ratio (median of pairs)",
            "CPU ratio (median of pairs)",
            "best round wall / CPU µs",
        ],
        caption=f"{rounds} rounds × {n} sequential single-recipient sends per client, alternating:",
    )
    kinds = ["nginx", "emulator"] if nginx_binary() else ["emulator"]
    if "nginx" not in kinds:
        section.note("nginx is not installed (`apt-get install nginx`): only the Python emulator was measured.")
    profiled = ""
    for kind in kinds:
        with _server(kind) as dsn:
            rs = measure(dsn, n, rounds)
            label = "nginx, fixed reply" if kind == "nginx" else "OutboxEmulator (own process)"
            for client, timings in (("plain urllib3", rs.plain), ("Gateway.send", rs.ours)):
                wall, cpu = median([t.wall_us for t in timings]), median([t.cpu_us for t in timings])
                best = f"{fmt(min(t.wall_us for t in timings))} / {fmt(min(t.cpu_us for t in timings))}"
                mine = client == "Gateway.send"
                table.add(
                    label,
                    client,
                    fmt(wall),
                    fmt(cpu),
                    fmt(1e6 / wall, 0),
                    f"{rs.wall_ratio():.2f}×" if mine else "1.00×",
                    f"{rs.cpu_ratio():.2f}×" if mine else "1.00×",
                    best,
                )
            extra_cpu = median([o.cpu_us - p.cpu_us for p, o in zip(rs.plain, rs.ours)])
            section.headlines.append(
                Headline(
                    f"Gateway.send / plain urllib3, wall ({kind})",
                    f"{rs.wall_ratio():.2f}×",
                    f"≤ {GOAL:.2f}×",
                    rs.wall_ratio() <= GOAL,
                )
            )
            section.headlines.append(
                Headline(
                    f"Gateway.send / plain urllib3, CPU ({kind})",
                    f"{rs.cpu_ratio():.2f}×",
                    f"≤ {GOAL:.2f}×",
                    rs.cpu_ratio() <= GOAL,
                )
            )
            verb = "adds" if extra_cpu >= 0 else "saves"
            section.note(f"{label}: smsgate {verb} {fmt(abs(extra_cpu))} µs of client CPU a message (median of pairs).")
            if kind == kinds[0]:
                section.tables.append(own_work(dsn, settings.pick(20, 5) / 100))
                section.tables.append(in_context(dsn, settings.pick(300, 100), settings.pick(6, 2)))
            if not profiled and (rs.wall_ratio() > GOAL or rs.cpu_ratio() > GOAL):
                section.tables += list(profile(dsn, settings.pick(1000, 200)))
                profiled = label
    section.tables.insert(0, table)
    section.note(
        "The plain loop reuses one urllib3 PoolManager and sends the exact requests smsgate would "
        "(`gateway.preview(message, redact=False)`), checking the status and reading the JSON reply; smsgate also "
        "plans (E.164, encoding, parts, batch), builds the request through pluggy, classifies the reply and reports "
        "one outcome per recipient. smsgate's transport opens urllib3's connections from a small pool of its own "
        "(one origin, no proxy, no retries), writes each request in one `sendall` and reads the reply with "
        "`http.client.HTTPResponse` (the parser urllib3 wraps), skipping urllib3's request and response layers: "
        "much of its margin is that lighter HTTP layer. The no-network table shows smsgate's own work, and "
        "`python -m benchmarks.instructions --overhead` the transport alone in instructions."
    )
    if profiled:
        section.note(
            f"Profiled against {profiled}. cProfile slows pure-Python code more than C code: read its "
            "percentages as where to look, and the no-network table for real costs."
        )
    return section
