"""5. Peers: the same messages through Apprise (its ``serwersms``, ``smsc`` and ``octopush``
plugins) and the official ``octopush`` client (legacy API), to the same emulators as smsgate.

Pointing a peer at the emulator changes only where it posts: Apprise plugins keep their URL in
``notify_url`` (set on the instance: scheme and host replaced, path kept), the octopush client
in the module constant ``octopush.DOMAIN``. Everything else (throttling, batching, headers,
connection handling, parsing) is the peer's own. Apprise runs with its default throttle
(``request_rate_per_sec``: 5.5 s between requests) and with it set to 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import apprise
import octopush
import requests

import smsgate
from benchmarks.common import Headline, Section, Settings, Table, fmt
from benchmarks.servers import EmulatorProcess

PER = 5  # recipients per message
BUDGET = 120.0  # seconds per run


def recipients(i: int, per: int) -> list[str]:
    return [f"+48{600_000_000 + i * per + j}" for j in range(per)]


def text(prefix: str, i: int) -> str:
    return f"{prefix} {i}: your appointment is tomorrow at 10:00. Reply STOP to opt out."


@dataclass
class Run:
    client: str
    messages: int
    recipients: int
    requests: int
    stored: int
    wall: float
    ok: int

    @property
    def msg_rate(self) -> float:
        return self.messages / self.wall if self.wall else 0.0

    @property
    def rcpt_rate(self) -> float:
        return self.messages * self.recipients / self.wall if self.wall else 0.0


@dataclass
class Peer:
    """One gateway: its emulator, smsgate's DSN label, Apprise's scheme and path."""

    gateway: str
    emulator: str
    kwargs: dict[str, Any]
    scheme: str
    path: str
    sends: str
    dsns: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})

    @property
    def dsn_label(self) -> str:
        return next(iter(self.dsns))


PEERS = [
    Peer(
        "SerwerSMS",
        "serwersms",
        {"eco": 10**9, "full": 10**9},
        "serwersms",
        "/messages/send_sms.json",
        "Apprise sends one request per recipient, with no `unique_id` (no de-duplication), each on a new TCP "
        "connection (module-level `requests.post`, no session)",
    ),
    Peer(
        "SMSC",
        "smsc",
        {"balance": "1000000000"},
        "smsc",
        "/sys/send.php",
        "Apprise sends one request per message with every phone (as smsgate does), but no `id` "
        "(no de-duplication), each on a new TCP connection",
    ),
    Peer(
        "Octopush (JSON API)",
        "octopush",
        {"credit": "1000000000"},
        "octopush",
        "/v1/public/sms-campaign/send",
        "Apprise sends one request per recipient by default (`batch=no`), with no `request_id` "
        "(no de-duplication), each on a new TCP connection",
        {"v1": {"api": "v1"}, "legacy": {"api": "legacy"}},
    ),
]

OCTOPUSH_201 = (
    "Apprise's octopush plugin reports failure for every message although the emulator stored them: it requires "
    "HTTP 201 Created and the emulator answers 200 (the reference does not say which the real API returns; "
    "smsgate accepts any 2xx)."
)
OFFICIAL = (
    "The official octopush client (legacy API) sends one request per message, with `Connection: close` (a new TCP "
    "connection each), no `request_id` (no de-duplication) unless the app sets one, every optional list field "
    "empty, and by default to `http://` (its module constant `DOMAIN`): the API key travels in clear text."
)
RESETS = (
    "{failed} of the official client's {total} sends failed with `RemoteDisconnected`: the client asks for "
    "`Connection: close`; the emulator closes after replying but does not say `Connection: close` in its reply "
    "(core `emulator.py`, `_Handler._send`), so urllib3 pools the connection and may reuse it after the close. "
    "The server's fault (RFC 9112 §9.6 asks it to say close), not the client's."
)


def _measure(emu: EmulatorProcess, client: str, m: int, per: int, send: Callable[[int], bool]) -> Run:
    """``send(i)`` for i < m, bounded by ``BUDGET``; the emulator counts requests and stored messages."""
    before = emu.stats()
    ok = done = 0
    start = time.perf_counter()
    for i in range(m):
        ok += bool(send(i))
        done += 1
        if time.perf_counter() - start > BUDGET:
            break
    wall = time.perf_counter() - start
    after = emu.stats()
    stored = int(after.get("stored") or 0) - int(before.get("stored") or 0)
    return Run(client, done, per, after["requests"] - before["requests"], stored, wall, ok)


def _smsgate(emu: EmulatorProcess, dsn: str, prefix: str, m: int, many: bool) -> Run:
    with smsgate.connect(dsn) as gateway:
        gateway.send(smsgate.Message(to=recipients(100_000 + len(prefix), 1), text=text("warm-up " + prefix, 0)))
        if not many:

            def send(i: int) -> bool:
                return gateway.send(smsgate.Message(to=recipients(i, PER), text=text(prefix, i))).ok

            return _measure(emu, "smsgate Gateway.send", m, PER, send)
        results = gateway.send_many(smsgate.Message(to=recipients(i, PER), text=text(prefix, i)) for i in range(m))
        return _measure(emu, "smsgate Gateway.send_many", m, PER, lambda i: next(results).ok)


def _apprise_url(peer: Peer, emu: EmulatorProcess, per: int) -> str:
    user, secret = quote(emu.username, safe=""), quote(emu.password, safe="")
    phones = [r.lstrip("+") for r in recipients(0, per)]
    if peer.scheme == "serwersms":
        return f"serwersms://{user}:{secret}@SMSGATE/" + "/".join(phones)
    if peer.scheme == "smsc":
        return f"smsc://{user}:{secret}@" + "/".join(phones)
    return f"octopush://{emu.username}/{secret}/" + "/".join("+" + p for p in phones)


def _apprise(peer: Peer, emu: EmulatorProcess, prefix: str, m: int, per: int, throttle: bool) -> Run:
    """One Apprise plugin instance, as an app keeps it, notified ``m`` times."""
    plugin: Any = apprise.Apprise.instantiate(_apprise_url(peer, emu, per))
    if plugin is None:
        raise RuntimeError(f"Apprise refused its {peer.scheme}:// URL")
    plugin.notify_url = emu.base_url + peer.path  # the only change: where it posts
    if not throttle:
        plugin.request_rate_per_sec = 0
    label = "Apprise, default throttle" if throttle else "Apprise, throttle off"
    return _measure(emu, label, m, per, lambda i: bool(plugin.notify(body=text(prefix, i))))


def _official_octopush(emu: EmulatorProcess, m: int) -> Run:
    octopush.DOMAIN = emu.base_url  # the client posts to DOMAIN + "/api/sms"
    sms = octopush.SMS(emu.username, emu.password)

    def send(i: int) -> bool:
        sms.set_sms_text(text("legacy", i))
        sms.set_sms_recipients([r.lstrip("+") for r in recipients(i, PER)])
        try:
            sms.send()  # raises on any error
        except Exception:
            return False
        return True

    return _measure(emu, "octopush (official client)", m, PER, send)


def _serwersms_probe(emu: EmulatorProcess) -> str:
    """What the emulator answers on Apprise's own path (``/messages/send_sms``, no ``.json``)."""
    plugin: Any = apprise.Apprise.instantiate(f"serwersms://{quote(emu.username)}:x@SMSGATE/48600000000")
    own_path = urlsplit(plugin.notify_url).path
    document = {
        "username": emu.username,
        "password": emu.password,
        "text": "probe",
        "sender": "SMSGATE",
        "phone": "+48600000000",
    }
    reply = requests.post(emu.base_url + own_path, json=document, timeout=10)
    return (
        f"SerwerSMS: Apprise posts to `{own_path}`, but the documented action URL is `<base><action>.json` "
        f"(reference §2), and the emulator answers that path with HTTP {reply.status_code} `{reply.text[:100]}`. "
        f"The rates above use `{own_path}.json`; nothing else of Apprise's request was changed."
    )


def run(settings: Settings) -> Section:
    section = Section("peers", "5. Peers: Apprise and the official octopush client, same emulators")
    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # failures are counted, not logged
    m, m_throttled = settings.pick(100, 10), settings.pick(3, 2)
    table = Table(
        [
            "gateway",
            "client",
            "messages",
            "recipients each",
            "requests",
            "stored by emulator",
            "client said ok",
            "wall s",
            "messages/s",
            "recipients/s",
            "smsgate Gateway.send is",
        ],
        caption=f"{m} messages × {PER} recipients (Apprise with its default throttle: {m_throttled} messages × 1):",
    )
    started = time.perf_counter()
    apprise.Apprise.instantiate("json://127.0.0.1/")  # loads Apprise's plugins once, outside the timings
    section.note(f"Apprise loads its plugins on first use: {time.perf_counter() - started:.2f} s (not in the rates).")
    for peer in PEERS:
        with EmulatorProcess(peer.emulator, peer.kwargs, dsns=peer.dsns) as emu:
            ours = _smsgate(emu, emu.dsn(peer.dsn_label), f"{peer.scheme}-seq", m, many=False)
            many = _smsgate(emu, emu.dsn(peer.dsn_label), f"{peer.scheme}-many", m, many=True)
            free = _apprise(peer, emu, f"{peer.scheme}-free", m, PER, throttle=False)
            slow = _apprise(peer, emu, f"{peer.scheme}-slow", m_throttled, 1, throttle=True)
            groups = [(peer.gateway, ours, [ours, many, free, slow])]
            section.headlines += [
                Headline(f"smsgate vs Apprise {peer.scheme}, throttle off", f"{ours.rcpt_rate / free.rcpt_rate:.1f}×"),
                Headline(
                    f"smsgate vs Apprise {peer.scheme}, default throttle", f"{ours.rcpt_rate / slow.rcpt_rate:,.0f}×"
                ),
            ]
            section.note(f"{peer.gateway}: {peer.sends}.")
            if peer.emulator == "serwersms":
                section.note(_serwersms_probe(emu))
            if peer.emulator == "octopush":
                if free.ok < free.messages:
                    section.note(OCTOPUSH_201)
                ours_legacy = _smsgate(emu, emu.dsn("legacy"), "legacy-seq", m, many=False)
                legacy = _official_octopush(emu, m)
                groups.append(("Octopush (legacy API)", ours_legacy, [ours_legacy, legacy]))
                ratio = ours_legacy.rcpt_rate / legacy.rcpt_rate
                section.headlines.append(Headline("smsgate vs official octopush client (legacy API)", f"{ratio:.1f}×"))
                section.note(OFFICIAL)
                if legacy.ok < legacy.messages:
                    section.note(RESETS.format(failed=legacy.messages - legacy.ok, total=legacy.messages))
            for label, reference, runs in groups:
                for r in runs:
                    table.add(
                        label,
                        r.client,
                        r.messages,
                        r.recipients,
                        r.requests,
                        r.stored,
                        r.ok,
                        fmt(r.wall, 2),
                        fmt(r.msg_rate),
                        fmt(r.rcpt_rate),
                        f"{reference.rcpt_rate / r.rcpt_rate:,.1f}× as fast",
                    )
    section.tables.append(table)
    section.note(
        "Ratios are recipients per second of smsgate's sequential `Gateway.send` over the peer's, on the same "
        "gateway and emulator (`send_many` shown for reference). Apprise's default throttle sleeps until 5.5 s "
        "have passed since its previous request, so with it on the rate is the throttle's, not the code's."
    )
    return section
