"""``smsgate demo``: the embedded default. Starts every installed provider's emulator on
loopback, sends the same small mixed batch through each, and prints what happened to every
recipient. No account and no network needed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from smsgate import output
from smsgate.errors import SmsgateError
from smsgate.gateway import connect
from smsgate.models import Message, SendResult
from smsgate.plugins import Registry, default_registry, emulator_class

NUMBERS = ("+48500600700", "+48500600701", "+48500600702")


def cases(now: datetime) -> list[tuple[str, Message]]:
    """The demo batch: what a real app sends in a day."""
    return [
        ("plain", Message(NUMBERS[0], "Your parcel is on its way.")),
        ("unicode", Message(NUMBERS[0], "Zażółć gęślą jaźń: привет!")),
        ("long", Message(NUMBERS[0], "Long message, split in parts and joined on the phone. " * 6)),
        ("several recipients", Message(NUMBERS, "Team meeting at 10:00 [room 3]")),
        ("one bad number", Message((NUMBERS[1], "12345"), "Who gets this?")),
        ("scheduled", Message(NUMBERS[2], "Reminder: dentist tomorrow", send_at=now + timedelta(days=1))),
    ]


def _summary(result: SendResult) -> str:
    counts = Counter(o.status.value for o in result.outcomes)
    text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    codes = sorted({f"{o.code}" for o in result.outcomes if o.code})
    return text + (f" (code {', '.join(codes)})" if codes else "")


def run_provider(name: str, registry: Registry) -> list[dict[str, Any]]:
    """Send the demo batch through provider ``name``'s emulator; one row per case."""
    spec = registry.provider(name).spec
    rows: list[dict[str, Any]] = []
    with emulator_class(spec)() as emulator, connect(emulator.dsn(), registry=registry) as gateway:
        for case, message in cases(datetime.now(timezone.utc)):
            row: dict[str, Any] = {"provider": name, "case": case, "recipients": len(message.to)}
            try:
                result = gateway.send(message)
            except SmsgateError as error:
                row.update(outcome=f"refused before sending: {error.message}", result=None, error=output.error(error))
            else:
                row.update(outcome=_summary(result), result=output.result(result), error=None)
            rows.append(row)
    return rows


def run(out: TextIO, *, providers: Sequence[str] | None = None, as_json: bool = False) -> int:
    registry = default_registry()
    names = [n for n, p in sorted(registry.providers.items()) if p.spec.emulator and (not providers or n in providers)]
    rows = [row for name in names for row in run_provider(name, registry)]
    if as_json:
        output.dump({"providers": names, "rows": rows}, out)
        return 0
    out.write(f"smsgate demo: {len(names)} provider emulator(s) on loopback, no account needed\n\n")
    out.write(
        output.table(
            ["provider", "case", "to", "outcome"],
            [[r["provider"], r["case"], str(r["recipients"]), r["outcome"]] for r in rows],
        )
        + "\n"
    )
    for failure in registry.failures:
        out.write(f"\nplugin {failure.name} failed to load: {failure.error}\n")
    return 0
