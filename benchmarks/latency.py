"""6. Realistic latency: how close a campaign gets to the gateway's physical limit.

A real gateway is tens of milliseconds away and allows a few connections per account, so the
limit is physical: ``connections / round-trip time`` requests per second. Every emulator here
answers ``latency`` seconds after each request arrived (``Emulator(latency=...)``: the reply is
held on the server's handler thread, sleeping, and the emulator's own work on the request is
inside that time, as a real gateway's is), so the server's CPU is not the bound. Each client runs in a fresh
worker process (``python -m benchmarks.latency worker '{...}'``) against an emulator process of its own,
so its CPU time is its own. The smsgate runs of one-recipient messages go all at once (see
:func:`groups`): 100,000 messages at 80 a second are 21 minutes each. Everything else runs alone:

- one-recipient messages through SMSC and Octopush (JSON API) with the gateway's connection cap:
  ``Gateway.send_many`` (threads), ``AsyncGateway.send_many`` and many tasks awaiting
  ``AsyncGateway.send`` (``smsgate.aio``), Apprise (throttle off) and the official Octopush
  client (legacy API);
- recipients through SerwerSMS, 200 a request: ``send_many`` of 200-recipient messages (threads
  and async), one ``Message`` with every recipient (``Gateway.send``), and Apprise.

The figure is messages (or recipients) per second as a fraction of the physical limit
(goal ≥ 0.95), and the client's CPU per message. Peers are measured on fewer messages: they send
one request at a time, so their rate is steady after a few hundred.

    python -m benchmarks.latency run --messages 2000 --recipients 100000   # a scale of your own
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.common import ROOT, Headline, Section, Settings, Table, cpu_ticks, fmt, load, steal
from benchmarks.servers import EmulatorProcess

LATENCY = 0.050  # seconds, every reply
BATCH = 200  # SerwerSMS numbers per request (its batch size)
GOAL = 0.95
BUDGET = 3300.0  # seconds, one worker at most (within serve.py LIFETIME)
PEER_BUDGET = 120.0  # seconds, one peer run at most
ONE_MESSAGE_MAX = 200_000  # recipients in the one-Message run: it holds all of them (plans, outcomes) at once
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- latency:begin -->", "<!-- latency:end -->"


def text(i: int) -> str:
    return f"Your code is {i:06d}. It expires in 10 minutes."


def numbers(n: int, offset: int = 0) -> Iterator[str]:
    for i in range(offset, offset + n):
        yield f"+48{500_000_000 + i}"


# -- the worker: one client, one run --------------------------------------------------------------


def _smsgate_messages(spec: dict[str, Any]) -> Iterator[Any]:
    import smsgate

    n, per, offset = int(spec["n"]), int(spec["per"]), int(spec["offset"])
    for i in range(0, n, per):
        to = list(numbers(min(per, n - i), offset + i))
        yield smsgate.Message(to=to[0] if per == 1 else to, text=text(i))


def _tally(results: Any) -> tuple[int, int, int]:
    """(recipients accepted, recipients otherwise, requests) over ``results``."""
    ok = other = requests = 0
    for r in results:
        good = sum(1 for o in r.outcomes if o.ok)
        ok += good
        other += len(r.outcomes) - good
        requests += r.requests
    return ok, other, requests


async def _tally_async(results: Any) -> tuple[int, int, int]:
    """:func:`_tally` of an async iterator, streaming (a list of every result would hold them all)."""
    ok = other = requests = 0
    async for r in results:
        good = sum(1 for o in r.outcomes if o.ok)
        ok += good
        other += len(r.outcomes) - good
        requests += r.requests
    return ok, other, requests


def _run_smsgate(spec: dict[str, Any]) -> tuple[int, int, int]:
    import smsgate

    client, dsn, n = spec["client"], spec["dsn"], int(spec["n"])
    if client == "threads":
        with smsgate.connect(dsn) as gateway:
            return _tally(gateway.send_many(_smsgate_messages(spec)))
    if client == "one-message":
        with smsgate.connect(dsn) as gateway:
            return _tally([gateway.send(smsgate.Message(to=list(numbers(n, int(spec["offset"]))), text=text(0)))])
    return asyncio.run(_run_async(spec))


async def _run_async(spec: dict[str, Any]) -> tuple[int, int, int]:
    from smsgate.aio import connect_async

    async with connect_async(spec["dsn"]) as gateway:
        if spec["client"] == "async-many":
            return await _tally_async(gateway.send_many(_smsgate_messages(spec)))
        # many tasks, each awaiting one send: what a web app does; at most 16 × cap tasks alive
        slots = asyncio.Semaphore(16 * gateway.max_connections)
        counts = [0, 0, 0]

        async def one(message: Any) -> None:
            try:
                ok, other, requests = _tally([await gateway.send(message)])
                counts[0] += ok
                counts[1] += other
                counts[2] += requests
            finally:
                slots.release()

        tasks = set()
        for message in _smsgate_messages(spec):
            await slots.acquire()
            task = asyncio.create_task(one(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return counts[0], counts[1], counts[2]


def _run_apprise(spec: dict[str, Any]) -> tuple[int, int, int]:
    import logging

    import apprise

    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    plugin: Any = apprise.Apprise.instantiate(spec["url"])
    if plugin is None:
        raise RuntimeError("Apprise refused its URL")
    plugin.notify_url = spec["notify_url"]  # the only change: where it posts
    plugin.request_rate_per_sec = 0  # throttle off: its default sleeps 5.5 s between requests
    first = int(spec["offset"])  # texts never repeat (SMSC refuses a repeat to the same number)
    ok = sum(bool(plugin.notify(body=text(first + i))) for i in range(int(spec["n"])))
    return ok, int(spec["n"]) - ok, 0


def _run_official(spec: dict[str, Any]) -> tuple[int, int, int]:
    import octopush

    octopush.DOMAIN = spec["base_url"]  # the client posts to DOMAIN + "/api/sms"
    sms = octopush.SMS(spec["username"], spec["password"])
    ok = 0
    for i, number in enumerate(numbers(int(spec["n"]), int(spec["offset"]))):
        sms.set_sms_text(text(int(spec["offset"]) + i))
        sms.set_sms_recipients([number.lstrip("+")])
        try:
            sms.send()  # raises on any error
            ok += 1
        except Exception:
            pass
    return ok, int(spec["n"]) - ok, 0


def work(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one client as ``spec`` says (after a warm-up that opens its connections)."""
    kind = spec["client"]
    runner = _run_apprise if kind == "apprise" else _run_official if kind == "official" else _run_smsgate
    if kind in ("apprise", "official"):
        runner({**spec, "n": 2, "offset": 10**6 + int(spec["offset"])})  # imports, first connection
    else:
        import smsgate
        import smsgate.aio

        smsgate.connect(spec["dsn"]).close()  # imports and plugin discovery, as a running app has them
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ok, other, requests = runner(spec)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"ok": ok, "other": other, "requests": requests, "wall": wall, "cpu": cpu}


def _worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.latency", "worker", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"latency worker {spec['client']} failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the section ----------------------------------------------------------------------------------


@dataclass
class Gateway:
    """One gateway: its emulator, its connection cap and how each peer reaches it."""

    label: str
    emulator: str
    kwargs: dict[str, Any]
    cap: int
    per: int  # recipients per message in the smsgate runs
    dsns: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    apprise_path: str = ""
    official: bool = False

    @property
    def bulk(self) -> bool:
        """Many recipients a message (SerwerSMS): rates count recipients, not messages."""
        return self.per > 1


GATEWAYS = [
    Gateway("SMSC", "smsc", {"balance": "1000000000"}, 4, 1, apprise_path="/sys/send.php"),
    Gateway(
        "Octopush (JSON API)",
        "octopush",
        {"credit": "1000000000"},
        4,
        1,
        {"default": {"api": "v1"}, "legacy": {"api": "legacy"}},
        "/v1/public/sms-campaign/send",
        official=True,
    ),
    Gateway("SerwerSMS", "serwersms", {"eco": 10**9, "full": 10**9}, 4, BATCH, apprise_path="/messages/send_sms.json"),
]


@dataclass
class Row:
    gateway: str
    client: str
    unit: str  # "messages" or "recipients"
    count: int
    ok: int
    requests: int
    stored: int
    wall: float
    cpu: float
    limit: float  # the physical limit in units per second
    server_cpu: float
    per: int = 1  # recipients per message
    cap: int = 4  # the gateway's connections
    measured: float = 0.0  # the limit at the measured round trip of one request, units per second
    late: float = 0.0  # the emulator's mean seconds past due per held reply (work or load made it late)
    stolen: float | None = None  # the share of CPU time the hypervisor took during the run (None: unknown)

    @property
    def messages(self) -> int:
        return max(1, -(-self.count // self.per))

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    @property
    def round_ms(self) -> float:
        """Milliseconds from one request to the next on a connection, were all of them busy."""
        return self.wall * self.cap / self.requests * 1e3 if self.requests else 0.0

    @property
    def fraction(self) -> float:
        return self.rate / self.limit if self.limit else 0.0


def _apprise_url(gw: Gateway, emu: EmulatorProcess) -> str:
    user, secret = quote(emu.username, safe=""), quote(emu.password, safe="")
    if gw.emulator == "serwersms":
        return f"serwersms://{user}:{secret}@SMSGATE/48600000000"
    if gw.emulator == "smsc":
        return f"smsc://{user}:{secret}@48600000000"
    return f"octopush://{emu.username}/{secret}/+48600000000"


def _peers_available() -> tuple[bool, bool]:
    found = []
    for module in ("apprise", "octopush"):
        proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False)
        found.append(proc.returncode == 0)
    return found[0], found[1]


def _rtt(emu: EmulatorProcess, per: int, n: int = 10) -> float:
    """The median wall time of one real send request of ``per`` recipients, alone on a kept-alive
    connection: the latency (the emulator's own work for such a request inside it) and loopback."""
    import urllib3

    import smsgate

    with smsgate.connect(emu.dsn()) as gateway:
        requests = [
            gateway.preview(smsgate.Message(list(numbers(per, 900_000_000 + i * per)), text(i)), redact=False)[0]
            for i in range(n)
        ]
    pool = urllib3.PoolManager(retries=False)
    times = []
    for r in requests:
        t0 = time.perf_counter()
        pool.request(r.method, r.url, body=r.body or None, headers=dict(r.headers))
        times.append(time.perf_counter() - t0)
    pool.clear()
    return sorted(times)[len(times) // 2]


def _late(before: dict[str, Any], after: dict[str, Any]) -> float:
    """The emulator's mean lateness per held reply between two stats."""
    held = int(after.get("held") or 0) - int(before.get("held") or 0)
    late = float(after.get("late") or 0.0) - float(before.get("late") or 0.0)
    return late / held if held > 0 else 0.0


def _spec(kind: str, gw: Gateway, emu: EmulatorProcess, n: int) -> dict[str, Any]:
    """What the worker needs to run client ``kind`` against ``emu``."""
    if kind == "apprise":
        return {"client": kind, "url": _apprise_url(gw, emu), "notify_url": emu.base_url + gw.apprise_path, "per": 1}
    if kind == "official":
        return {
            "client": kind,
            "base_url": emu.base_url,
            "username": emu.username,
            "password": emu.password,
            "per": 1,
        }
    return {"client": kind, "dsn": emu.dsn(), "per": n if kind == "one-message" else gw.per}


CLIENTS = {
    "threads": "smsgate Gateway.send_many (threads)",
    "async-many": "smsgate.aio AsyncGateway.send_many",
    "async-tasks": "smsgate.aio tasks awaiting AsyncGateway.send",
    "one-message": "smsgate Gateway.send, one Message",
    "apprise": "Apprise (throttle off)",
    "official": "octopush, official client (legacy API)",
}


PEERS = ("apprise", "official")


@dataclass(eq=False)  # one run is itself, whatever its fields
class Job:
    """One client's run: ``count`` units through ``gateway`` by client ``kind``."""

    gateway: Gateway
    kind: str
    count: int

    @property
    def peer(self) -> bool:
        return self.kind in PEERS


def jobs(
    messages: int, recipients: int, peer_messages: int, only: list[str] | None = None
) -> tuple[list[Job], list[str]]:
    """Every client on every gateway (``only`` these gateways), in the table's order."""
    out: list[Job] = []
    notes: list[str] = []
    has_apprise, has_official = _peers_available()
    if not has_apprise:
        notes.append("Apprise is not installed (`pip install -r benchmarks/requirements.txt`): not measured.")
    if not has_official:
        notes.append("The official octopush client is not installed: not measured.")
    for gw in GATEWAYS:
        if only and gw.emulator not in only:
            continue
        n = recipients if gw.bulk else messages
        kinds = ["threads", "async-many", "async-tasks"] + (["one-message"] if gw.bulk else [])
        kinds += ["apprise"] if has_apprise and gw.apprise_path else []
        kinds += ["official"] if has_official and gw.official else []
        for kind in kinds:
            count = peer_messages if kind in PEERS else min(n, ONE_MESSAGE_MAX) if kind == "one-message" else n
            out.append(Job(gw, kind, count))
    return out, notes


def groups(todo: list[Job]) -> list[list[Job]]:
    """Which runs go at once: the smsgate runs of one-recipient messages all together (at 80
    messages/s each they leave the machine nearly idle); every other run alone."""
    alone = [j for j in todo if j.gateway.bulk or j.peer]
    together = [j for j in todo if j not in alone]
    return ([together] if together else []) + [[j] for j in alone]


def run_group(group: list[Job], latency: float, rtts: dict[str, float], notes: list[str]) -> list[Row]:
    """Run ``group`` at once, each client in a fresh worker against a fresh emulator process."""
    with contextlib.ExitStack() as stack:
        emus = [
            stack.enter_context(
                EmulatorProcess(j.gateway.emulator, {**j.gateway.kwargs, "latency": latency}, dsns=j.gateway.dsns)
            )
            for j in group
        ]
        for j, emu in zip(group, emus):
            gw = j.gateway
            if gw.label not in rtts:
                rtts[gw.label] = rtt = _rtt(emu, gw.per)
                notes.append(
                    f"{gw.label}: one send request ({gw.per} recipient{'s' if gw.per > 1 else ''}) alone on a "
                    f"kept-alive connection takes {rtt * 1e3:.1f} ms (median of 10: the {latency * 1e3:.0f} ms "
                    "latency, the emulator's work inside it, and loopback)."
                )
        specs = [{**_spec(j.kind, j.gateway, emu, j.count), "n": j.count, "offset": 0} for j, emu in zip(group, emus)]
        before, ticks, t0 = [emu.stats() for emu in emus], cpu_ticks(), time.perf_counter()
        with ThreadPoolExecutor(len(group)) as pool:
            budgets = [PEER_BUDGET * 3 if j.peer else BUDGET for j in group]
            results = list(pool.map(_worker, specs, budgets))
        wall, stolen = time.perf_counter() - t0, steal(ticks, cpu_ticks())
        after = [emu.stats() for emu in emus]
    rows = []
    for j, spec, result, b, a in zip(group, specs, results, before, after):
        gw, warmup = j.gateway, 2 if j.peer else 0  # a peer's warm-up requests
        rows.append(
            Row(
                gw.label,
                CLIENTS[j.kind],
                "recipients" if gw.bulk else "messages",
                j.count,
                int(result["ok"]),
                int(a["requests"]) - int(b["requests"]) - warmup,
                int(a.get("stored") or 0) - int(b.get("stored") or 0) - warmup,
                float(result["wall"]),
                float(result["cpu"]),
                gw.cap / latency * gw.per,
                float(a["cpu"]) - float(b["cpu"]),
                1 if j.peer else min(int(spec["per"]), j.count),
                1 if j.peer else gw.cap,
                gw.cap / rtts[gw.label] * gw.per,
                _late(b, a),
                stolen,
            )
        )
        print(
            f"  {gw.label} / {rows[-1].client}: {rows[-1].rate:,.1f} {rows[-1].unit}/s ({rows[-1].fraction:.3f})",
            flush=True,
        )
    if len(group) > 1:
        busy = sum(r.cpu + r.server_cpu for r in rows) / (wall * (os.cpu_count() or 1))
        notes.append(
            f"These {len(group)} runs went at once, each client in its own worker against its own emulator process: "
            + ", ".join(f"{r.gateway} / {r.client}" for r in rows)
            + f". Together the clients and emulators used {busy:.0%} of the machine's {os.cpu_count()} cores "
            f"over the {wall:.0f} s."
        )
    return rows


def measure(
    messages: int, recipients: int, peer_messages: int, latency: float = LATENCY, only: list[str] | None = None
) -> tuple[list[Row], list[str]]:
    """Every client on every gateway at ``latency``, each against a fresh emulator process;
    ``messages`` one-recipient messages per smsgate run on SMSC and Octopush, ``recipients``
    per run on SerwerSMS (at most ``ONE_MESSAGE_MAX`` as one Message)."""
    todo, notes = jobs(messages, recipients, peer_messages, only)
    rtts: dict[str, float] = {}
    done: dict[int, Row] = {}  # by id() of the job: groups run out of the table's order
    for group in groups(todo):
        for j, row in zip(group, run_group(group, latency, rtts, notes)):
            done[id(j)] = row
    return [done[id(j)] for j in todo], notes


def table(rows: list[Row], latency: float) -> Table:
    out = Table(
        [
            "gateway",
            "client",
            "count",
            "accepted (client)",
            "requests",
            "stored by emulator",
            "wall s",
            "rate /s",
            "physical limit /s",
            "fraction of limit",
            "fraction of the limit at the measured round trip",
            "ms per request per connection",
            "emulator reply late ms (mean)",
            "CPU stolen by the host %",
            "client CPU µs per message",
            "client CPU µs per recipient",
            "emulator CPU s",
        ],
        caption=(
            f"Every reply {latency * 1e3:.0f} ms late; connection cap 4 (the gateways' own); the physical limit is "
            "connections ÷ latency requests per second (× 200 recipients a request for SerwerSMS):"
        ),
    )
    for r in rows:
        out.add(
            r.gateway,
            r.client,
            f"{r.count:,} {r.unit}",
            f"{r.ok:,}",
            f"{r.requests:,}",
            f"{r.stored:,}",
            fmt(r.wall, 1),
            fmt(r.rate, 1),
            fmt(r.limit, 0),
            f"{r.fraction:.3f}",
            f"{r.rate / r.measured:.3f}" if r.measured else "",
            fmt(r.round_ms, 1),
            f"{r.late * 1e3:.2f}",
            "?" if r.stolen is None else f"{r.stolen * 100:.1f}",
            fmt(r.cpu / r.messages * 1e6, 0),
            fmt(r.cpu / r.count * 1e6, 1),
            fmt(r.server_cpu, 1),
        )
    return out


def section(rows: list[Row], notes: list[str], latency: float, scale: str) -> Section:
    sec = Section("latency", "6. Realistic latency: messages/s against the gateway's physical limit")
    sec.tables.append(table(rows, latency))
    sec.note(f"Scale: {scale}.")
    for r in rows:
        if r.client.startswith("smsgate Gateway.send_many") or r.client.startswith("smsgate.aio"):
            sec.headlines.append(
                Headline(
                    f"latency {latency * 1e3:.0f} ms, {r.gateway}: {r.client}",
                    f"{r.fraction:.3f} of {fmt(r.limit, 0)} {r.unit}/s",
                    f"≥ {GOAL}",
                    r.fraction >= GOAL,
                )
            )
    by = {(r.gateway, r.client): r for r in rows}
    for gw in GATEWAYS:
        threads = by.get((gw.label, "smsgate Gateway.send_many (threads)"))
        many = by.get((gw.label, "smsgate.aio AsyncGateway.send_many"))
        if threads and many:
            sec.headlines.append(
                Headline(
                    f"latency, {gw.label}: async send_many / threaded send_many (rate)",
                    f"{many.rate / threads.rate:.3f}×",
                    "= 1",
                )
            )
        for peer in ("Apprise (throttle off)", "octopush, official client (legacy API)"):
            other = by.get((gw.label, peer))
            if threads and other:
                sec.headlines.append(
                    Headline(f"latency, {gw.label}: smsgate vs {peer}", f"{threads.rate / other.rate:.1f}×")
                )
    sec.notes += notes
    sec.note(
        "Two fractions: of the physical limit (connections ÷ latency: the goal's), and of the limit at the measured "
        "round trip of one request alone (connections ÷ that time), which also counts loopback, the emulator's "
        "reply past the latency when its work took longer, and the machine's load at the time: the share of the "
        "limit the client itself leaves unused. The emulator holds each reply until the latency after the "
        "request arrived, so its own work is inside the round trip, as a real gateway's processing is. 'Emulator "
        "reply late' is how far past that due time its replies went out, on average: its work took longer, or "
        "it waited for a core or its own interpreter lock while the client ran; that time is the emulator's, "
        "counted against the client in both fractions. 'CPU stolen by the host' is the share of the machine's CPU "
        "time its hypervisor gave to other guests during the run (from /proc/stat): on a virtual machine both "
        "processes run that much slower, whatever the code."
    )
    sec.note(
        "Client CPU is the worker process's (every thread) over the timed run; per message for one-recipient "
        "messages, per request (200 recipients) and per recipient for SerwerSMS. Emulator CPU is the server "
        "process's: it shares the machine's 2 cores with the client and with other work."
    )
    sec.note(
        "Apprise and the official octopush client send one request at a time (one recipient each, a new TCP "
        "connection each): their own limit is 1 ÷ latency, a quarter of the gateway's. SerwerSMS through Apprise "
        "is one request per recipient, so its recipients per second are those requests. Apprise's octopush plugin "
        "reports failure on the emulator's HTTP 200 (it wants 201): 'stored by emulator' is the truth there."
    )
    sec.note(
        "`Gateway.send` of one Message with every recipient plans all of it first (nothing goes out if any part is "
        "invalid), then sends its batches up to the connection cap at once, and gathers every outcome at the end: "
        "that planning and gathering, on one thread, is not overlapped with the requests. That run stops at "
        f"{ONE_MESSAGE_MAX:,} recipients: it holds all of them (plan, requests, outcomes) at once."
    )
    return sec


def write_docs(sec: Section, machine: str) -> None:
    """The latency table in docs/benchmarks.md, between its markers."""
    if not DOCS.exists():
        return
    page = DOCS.read_text()
    if BEGIN not in page or END not in page:
        return
    body = "\n".join([BEGIN, machine, "", sec.tables[0].markdown(), "", *[f"- {n}" for n in sec.notes[:1]], END])
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOCS.write_text(head + body + tail)


def run(settings: Settings) -> Section:
    messages = settings.pick(100_000, 2_000)
    recipients = settings.pick(1_000_000, 100_000)
    peers = settings.pick(2_000, 300)
    if settings.latency_scale is not None:
        messages, recipients, peers = settings.latency_scale
    rows, notes = measure(messages, recipients, peers)
    size = " (--quick)" if settings.quick else " (--latency-scale)" if settings.latency_scale else " (full)"
    scale = (
        f"{messages:,} one-recipient messages per smsgate run (SMSC, Octopush), {recipients:,} recipients per "
        f"SerwerSMS run, {peers:,} messages per peer run" + size
    )
    return section(rows, notes, LATENCY, scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["run", "worker"])
    parser.add_argument("spec", nargs="?", help="worker: its JSON spec")
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--peers", type=int, default=300)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--output", type=Path, help="write the section's Markdown here")
    parser.add_argument("--merge", action="store_true", help="splice the section into benchmarks/RESULTS.md")
    parser.add_argument("--gateway", action="append", choices=[g.emulator for g in GATEWAYS], help="only these")
    args = parser.parse_args(argv)
    if args.mode == "worker":
        print(json.dumps(work(json.loads(args.spec))))
        return 0
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var, ""), "127.0.0.1", "localhost"]))
    started, t0 = load(), time.perf_counter()
    rows, notes = measure(args.messages, args.recipients, args.peers, args.latency, args.gateway)
    scale = (
        f"{args.messages:,} one-recipient messages per smsgate run (SMSC, Octopush), {args.recipients:,} "
        f"recipients per SerwerSMS run, {args.peers:,} messages per peer run"
    )
    sec = section(rows, notes, args.latency, scale)
    sec.seconds, sec.load = time.perf_counter() - t0, f"{started} (at the end: {load()})"
    print(sec.text())
    if args.output:
        args.output.write_text(sec.markdown())
    if args.merge:
        from benchmarks import run as runner

        machine = runner._machine_table((started, load()))
        command = "python -m benchmarks.latency run " + " ".join(argv if argv is not None else sys.argv[2:])
        runner._merge(ROOT / "benchmarks" / "RESULTS.md", [sec], command.replace(" --merge", ""), machine)
        info = {row[0]: row[1] for row in machine.rows}
        write_docs(
            sec,
            f"Measured {info.get('date', '?')} by `{command}` on {info.get('CPU', '?')}; smsgate "
            f"{info.get('smsgate', '?')}; load average {info.get('load average (1, 5, 15 min)', '?')}.",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
