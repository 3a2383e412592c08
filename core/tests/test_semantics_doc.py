"""docs/delivery-semantics.md's decision table, row by row, against ``Rules.decide``."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsgate.models import Classification, Status, Verdict
from smsgate.retry import RetryPolicy
from smsgate.rules import Action, LookUp, Offer, Progress, Resend, Rules, Settle

DOC = Path(__file__).resolve().parents[2] / "docs" / "delivery-semantics.md"

#: attempt column -> the classification a provider (or the core's defaults) gives it
ATTEMPTS = {
    "not written": Classification(Verdict.RETRY),
    "refused with a retry code": Classification(Verdict.RETRY),
    "throttled (429, Retry-After)": Classification(Verdict.THROTTLED, retry_after=7.0),
    "refused with a fatal code": Classification(Verdict.FATAL),
    "definitive refusal (replayed reply)": Classification(Verdict.FATAL, final=True),
    "timeout after writing": Classification(Verdict.AMBIGUOUS),
    "HTTP 5xx": Classification(Verdict.AMBIGUOUS),
    "unreadable reply": Classification(Verdict.AMBIGUOUS),
    '"already sent" code': Classification(Verdict.AMBIGUOUS, final=True),
}

WINDOW, DELAY = 600.0, 30.0
NOW_OPEN, NOW_CLOSED = 20.0, 5_000.0


def rows() -> list[list[str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("| attempt | earlier doubt | offer | budget | action | status |")
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


def offer_of(cell: str) -> Offer:
    lookup = "lookup" in cell
    dedup = "dedup" in cell
    return Offer(WINDOW if dedup else None, lookup, DELAY)


def expected(action: str, status: str) -> tuple[type[Action], Status | None, bool]:
    kind = {"resend": Resend, "resend after retry-after": Resend, "look up": LookUp, "settle": Settle}[action.lower()]
    if kind is not Settle:
        return kind, None, False
    return kind, Status(status.split(",")[0]), "retryable" in status


def cases() -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for cells in rows():
        attempt, doubt, offer, budget, _action, _status = cells
        if offer == "any":
            out.extend((attempt, doubt, o, budget, _action, _status) for o in ("dedup open", "lookup", "nothing"))
        elif budget == "any":
            out.extend((attempt, doubt, offer, b, _action, _status) for b in ("yes", "no"))
        else:
            out.append(tuple(cells))
    return out


@pytest.mark.parametrize(("attempt", "doubt", "offer", "budget", "action", "status"), cases())
def test_the_documented_rule_is_the_engines(
    attempt: str, doubt: str, offer: str, budget: str, action: str, status: str
) -> None:
    verdict = ATTEMPTS[attempt]
    policy = RetryPolicy(attempts=4, max_time=1e9, backoff=1.0, backoff_max=1.0)
    now = NOW_CLOSED if "closed" in offer else NOW_OPEN
    earlier = doubt == "yes"
    ambiguous = verdict.verdict is Verdict.AMBIGUOUS
    progress = Progress(  # as it stands after the attempt: 3 of 4 attempts used, or all 4
        started=0.0,
        attempts=3 if budget == "yes" else 4,
        doubt=earlier or ambiguous,
        doubt_ended=now if ambiguous else (now - 1.0 if earlier else None),
        looked_up="already looked up" in offer,
    )
    rules = Rules(offer_of(offer), policy, guard=1.0)
    got = rules.decide(progress, verdict, now, rand=0.0)
    kind, settled, retryable = expected(action, status)
    assert isinstance(got, kind), f"{attempt} / doubt {doubt} / {offer} / budget {budget}: {got}"
    if isinstance(got, Settle):
        assert (got.status, got.retryable) == (settled, retryable)
    if isinstance(got, Resend) and "Retry-After" in action:
        assert got.wait >= 7.0
    if isinstance(got, LookUp):
        assert got.wait == pytest.approx(max(0.0, (progress.doubt_ended or now) + DELAY - now))


def test_the_table_covers_every_verdict() -> None:
    assert {ATTEMPTS[r[0]].verdict for r in rows()} == set(Verdict)
