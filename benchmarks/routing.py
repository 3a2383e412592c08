"""Routing under a gateway failure: N recipients through the five emulators as one fleet, with
one gateway killed part-way and restarted later; counted per recipient at the emulators.

    python benchmarks/routing.py [--recipients 100000] [--victim ru] [--write]

SerwerSMS takes +48, SMSC +7, Octopush +33, BulkSMS the rest (RouteSMS backs it up), each
country's primary falling back to BulkSMS. The campaign is ``send_many`` of 200-recipient
messages, mixed countries. The victim emulator is stopped once 30 % of the results are in and
started again at 60 %; its breaker (cool-down 1 s) sends its traffic to the fallback
meanwhile and probes it back. Figures: duplicates (a recipient taken by more than one gateway,
or twice by one), lost (reported accepted but not at the gateway named, or with no outcome),
unknown (in flight when the gateway died: may or may not be there, never resent elsewhere),
per-gateway counts, time. ``--write`` puts the section into benchmarks/RESULTS.md between its
markers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import smsgate  # noqa: E402
from smsgate.engine import digits  # noqa: E402
from smsgate.health import Health  # noqa: E402
from smsgate.models import Message, Status  # noqa: E402
from smsgate.plugins import default_registry, emulator_class  # noqa: E402
from smsgate.router import Router  # noqa: E402

PROVIDERS = {"pl": "serwersms", "ru": "smsc", "fr": "octopush", "world": "bulksms", "backup": "routesms"}
PLENTY: dict[str, dict[str, Any]] = {
    "serwersms": {"eco": 10**7, "full": 10**7},
    "smsc": {"balance": "100000000"},
    "octopush": {"credit": Decimal(10**8)},
    "bulksms": {"credit": Decimal(10**8)},
    "routesms": {"credit": 10**8},
}
ROUTER = {
    "default": ["world", "backup"],
    "breaker": {"failures": 3, "cool_down": 1, "min_calls": 50},
    "rules": [
        {"prefix": "+48", "primary": "pl", "fallbacks": ["world"]},
        {"region": "RU", "primary": "ru", "fallbacks": ["world"]},
        {"prefix": "+33", "primary": "fr", "fallbacks": ["world"]},
    ],
}
TEXT = "Promo -20% this week. STOP au XXXXX"
OPTIONS = "attempts=2&backoff=0.05&read_timeout=2&connect_timeout=1"
PER_MESSAGE = 200
MARK_BEGIN, MARK_END = "<!-- routing:begin -->", "<!-- routing:end -->"


def recipients(count: int) -> list[str]:
    prefixes = ["+48500", "+7903", "+33612", "+447700", "+1202555"]
    out = []
    for n in range(count):
        p = prefixes[n % len(prefixes)]
        out.append(f"{p}{n // len(prefixes):0{12 - len(p)}d}")
    return out


def taken_by(provider: str, emulator: Any) -> list[str]:
    with emulator.lock:
        if provider == "serwersms":
            found = [m.phone for m in emulator.account.messages.values()]
            found += [m.phone for _, batch in emulator.processing for m in batch]
        elif provider == "smsc":
            found = [m.phone for m in emulator.messages.values()]
        elif provider == "bulksms":
            found = [m.msisdn for m in emulator.messages]
        elif provider == "octopush":
            found = [m.recipient for m in emulator.messages]
        else:
            found = [m.destination for m in emulator.messages]
    return ["+" + digits(n) for n in found]


def run(count: int, victim: str) -> dict[str, Any]:
    registry = default_registry()
    emulators = {g: emulator_class(registry.provider(p).spec)(**PLENTY[p]).start() for g, p in PROVIDERS.items()}
    numbers = recipients(count)
    messages = [Message(numbers[n : n + PER_MESSAGE], TEXT, key=f"bench-{n}") for n in range(0, count, PER_MESSAGE)]
    kill_at, restart_at = int(len(messages) * 0.3), int(len(messages) * 0.6)
    events: list[str] = []

    def factory(gateway: str) -> smsgate.Gateway:
        return smsgate.connect(f"{emulators[gateway].dsn()}&{OPTIONS}", registry=registry)

    started = time.perf_counter()
    try:
        with Router.from_config(ROUTER, factory, name="bench", health=Health()) as router:
            results = []
            for result in router.send_many(messages, concurrency=4):
                results.append(result)
                if len(results) == kill_at:
                    emulators[victim].stop()
                    events.append(f"{victim} ({PROVIDERS[victim]}) stopped after {kill_at} results")
                if len(results) == restart_at:
                    emulators[victim].start()
                    events.append(f"restarted after {restart_at}")
            status = {s["gateway"]: s for s in router.status()}
        elapsed = time.perf_counter() - started
        taken: dict[str, Counter[str]] = {}
        for gateway, emulator in emulators.items():
            for number in taken_by(PROVIDERS[gateway], emulator):
                taken.setdefault(number, Counter())[gateway] += 1
    finally:
        for emulator in emulators.values():
            emulator.stop()

    statuses: Counter[str] = Counter()
    routed: Counter[str] = Counter()
    failed_over = duplicates = lost = unknown_elsewhere = 0
    seen: set[str] = set()
    for result in results:
        for o in result.outcomes:
            seen.add(o.recipient)
            statuses[o.status.value] += 1
            via = result.gateway_of(o.recipient)
            routed[str(via)] += 1
            if len(result.tried.get(o.recipient, ())) > 1:
                failed_over += 1
            where = taken.get(o.recipient, Counter())
            if sum(where.values()) > 1:
                duplicates += 1
            if o.ok and where != Counter({gateway: 1}):
                lost += 1
            if o.status is Status.UNKNOWN and set(where) - {gateway}:
                unknown_elsewhere += 1
    lost += len(set(numbers) - seen)
    return {
        "recipients": count,
        "messages": len(messages),
        "elapsed": elapsed,
        "statuses": statuses,
        "routed": routed,
        "taken": Counter(g for c in taken.values() for g in c.elements()),
        "failed_over": failed_over,
        "duplicates": duplicates,
        "lost": lost,
        "unknown_elsewhere": unknown_elsewhere,
        "events": events,
        "victim": victim,
        "breaker": status[victim],
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "## Routing: one gateway killed and restarted",
        "",
        f"`python benchmarks/routing.py --recipients {r['recipients']}`: {r['recipients']:,} recipients in "
        f"{r['messages']:,} messages of {PER_MESSAGE} (five countries mixed), `send_many` with 4 threads through a "
        "router of the five emulators (SerwerSMS +48, SMSC +7, Octopush +33, BulkSMS the rest, each falling back "
        f"to BulkSMS). {'; '.join(r['events'])}. Counted per recipient at the emulators.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| duplicates (a recipient taken more than once, across every gateway) | **{r['duplicates']}** |",
        f"| lost (accepted but not at the gateway named, or no outcome) | **{r['lost']}** |",
        f"| unknown recipients found at another gateway than their own | **{r['unknown_elsewhere']}** |",
        f"| outcomes | {', '.join(f'{n:,} {s}' for s, n in sorted(r['statuses'].items()))} |",
        f"| failed over to a fallback | {r['failed_over']:,} |",
        f"| routed, by gateway | {', '.join(f'{g} {n:,}' for g, n in sorted(r['routed'].items()))} |",
        f"| taken, by emulator | {', '.join(f'{g} {n:,}' for g, n in sorted(r['taken'].items()))} |",
        f"| {r['victim']}'s breaker at the end | {r['breaker']['state']}, opened {r['breaker']['opened']}×, "
        f"{r['breaker']['skipped']} sends skipped |",
        f"| time | {r['elapsed']:.1f} s ({r['recipients'] / r['elapsed']:,.0f} recipients/s) |",
        "",
        "`unknown` recipients were in flight when the emulator died: each stays with that gateway (it may "
        "have them) and is never handed to the fallback.",
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    block = f"{MARK_BEGIN}\n{section}\n{MARK_END}"
    if MARK_BEGIN in text and MARK_END in text:
        head, _, rest = text.partition(MARK_BEGIN)
        _, _, tail = rest.partition(MARK_END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--victim", default="ru", choices=sorted(PROVIDERS))
    parser.add_argument("--write", action="store_true", help="put the section into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    result = run(args.recipients, args.victim)
    section = markdown(result)
    print(section)
    if args.write:
        write(section)
    return 1 if result["duplicates"] or result["lost"] or result["unknown_elsewhere"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
