"""3. Text: encoding detection and segment counting, µs per message, side by side with ``smsutil``.

``smsgate.text.analyse`` (encoding, length, parts) and ``smsgate.text.split`` (the parts
themselves) against ``smsutil.split``, which is smsutil's one way to learn both (it returns the
encoding and the parts). Segment counts, encodings and part boundaries are then compared on a
list of edge cases of GSM 03.38 and UCS-2.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import smsutil

from benchmarks.common import Headline, Section, Settings, Table, fmt
from smsgate import text as smstext

GOAL = 10.0


def _fill(base: str, n: int) -> str:
    return (base * (n // len(base) + 1))[:n]


SAMPLES: list[tuple[str, str]] = [
    ("160 GSM chars (ASCII)", _fill("Your parcel 12345 is out for delivery today. Reply STOP to opt out. ", 160)),
    ("160 GSM chars (é, ñ, ü, Ä: non-ASCII GSM)", _fill("Café Niño über Äpfel: ¿Qué tal? Grüße aus Köln. ", 160)),
    ("459 chars with extension chars (€ [ ] { } ~ ^ |)", _fill("Total: 12€ [order {A-7}] ~ ok ^ pay | now. ", 459)),
    ("70 UCS-2 chars (Polish)", _fill("Zażółć gęślą jaźń, dziękujemy za zamówienie. ", 70)),
    ("text with emoji, 45 chars (1 part)", "Your code is 123456 🔐 Have a nice day 😀🎉 bye"),
    ("text with emoji, 150 chars (3 parts)", _fill("Party tonight 🎉🎂 at 8pm, bring friends 👋😀! ", 150)),
]

# (case, text): the rules of GSM 03.38 and UCS-2 at their edges.
EDGES: list[tuple[str, str]] = [
    ("empty text", ""),
    ("160 GSM septets", "a" * 160),
    ("161 GSM septets", "a" * 161),
    ("306 septets (2 full parts)", "a" * 306),
    ("307 septets", "a" * 307),
    ("80 € (160 septets)", "€" * 80),
    ("81 € (162 septets)", "€" * 81),
    ("€ straddling the 153rd septet", "a" * 152 + "€" + "b" * 10),
    ("escape char ESC (0x1B) alone", "\x1b"),
    ("text with a raw ESC (0x1B)", "Hello\x1bworld"),
    ("form feed (extension table)", "page\x0cbreak"),
    ("70 UCS-2 units", "ж" * 70),
    ("71 UCS-2 units", "ж" * 71),
    ("35 emoji (70 units)", "😀" * 35),
    ("36 emoji (72 units)", "😀" * 36),
    ("emoji straddling the 67th unit", "ж" * 66 + "😀" + "ж" * 10),
    ("lone surrogate", "abc\ud800def" + "ж" * 70),
    ("GSM text + one Polish letter", "a" * 159 + "ł"),
    ("Greek capitals in GSM (Δ Φ Γ)", "ΔΦΓΛΩΠΨΣΘΞ" * 16),
    ("Greek capital Alpha (U+0391, not GSM)", "Α" * 10),
    ("lowercase ç (not in GSM; Ç is)", "ça va"),
    ("trailing newline", "a" * 159 + "\n"),
]


def _smsutil(t: str) -> tuple[str, int, list[int]]:
    r = smsutil.split(t)
    enc = "gsm7" if r.encoding == "gsm0338" else "ucs2"
    return enc, len(r.parts), [len(p.content) for p in r.parts]


def _ours(t: str) -> tuple[str, int, list[int]]:
    info = smstext.analyse(t)
    return info.encoding.value, info.parts, [len(p) for p in smstext.split(t)]


def _why(case: str, theirs: tuple[str, int, list[int]], ours: tuple[str, int, list[int]]) -> str:
    if "ESC" in case:
        return (
            "smsutil puts 0x1B (the escape to the extension table) in its basic charset and counts a raw ESC "
            "as one septet; it is not a character (GSM 03.38 shows a lone escape as a space), so smsgate sends UCS-2"
        )
    if case == "empty text":
        return "smsutil's GSM check needs one character, so empty text is UCS-2 for it; smsgate calls it one GSM part"
    return "see the counts"


def interleaved_us(calls: Sequence[Callable[[], object]], *, budget: float, rounds: int = 7) -> list[float]:
    """Microseconds per call of each of ``calls``: the best of ``rounds`` batches, the batches of
    the different calls taking turns, so that other work on the machine weighs on them alike
    (the ratios are what is read). Each batch is bounded in count and in time."""
    sizes = []
    for fn in calls:  # calibrated so that a batch of each takes about budget / (2 * rounds) seconds
        start = time.perf_counter()
        for _ in range(10):
            fn()
        once = max((time.perf_counter() - start) / 10, 1e-8)
        sizes.append(max(1, min(200_000, int(budget / (2 * rounds) / once))))
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for i, (fn, n) in enumerate(zip(calls, sizes)):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / n)
    return [b * 1e6 for b in best]


def run(settings: Settings) -> Section:
    section = Section("text", "3. Text: encoding and segment counting vs smsutil")
    budget = settings.pick(30, 5) / 100  # seconds per measurement
    table = Table(
        [
            "text",
            "encoding",
            "parts",
            "smsgate analyse µs",
            "smsgate split µs",
            "smsutil split µs",
            "smsutil / analyse",
            "smsutil / split",
        ],
        caption="Microseconds per message (best of 7 batches, the three functions' batches taking turns; "
        "each batch bounded in count and time):",
    )
    ratios: list[float] = []
    for label, t in SAMPLES:
        info = smstext.analyse(t)
        calls: list[Callable[[], object]] = [
            lambda t=t: smstext.analyse(t),  # type: ignore[misc]
            lambda t=t: smstext.split(t),  # type: ignore[misc]
            lambda t=t: smsutil.split(t),  # type: ignore[misc]
        ]
        a, s, u = interleaved_us(calls, budget=budget)
        ratios.append(u / a)
        table.add(
            label, info.encoding.value, info.parts, fmt(a, 2), fmt(s, 2), fmt(u, 2), f"{u / a:.0f}×", f"{u / s:.0f}×"
        )
    section.tables.append(table)
    worst, middle = min(ratios), sorted(ratios)[len(ratios) // 2]
    worst_label = SAMPLES[ratios.index(worst)][0]
    section.headlines += [
        Headline("text: analyse vs smsutil.split, median sample", f"{middle:.0f}× faster", "≥ 10×", middle >= GOAL),
        Headline(
            f"text: analyse vs smsutil.split, worst ({worst_label})", f"{worst:.1f}× faster", "≥ 10×", worst >= GOAL
        ),
    ]

    edges = Table(
        ["case", "smsgate enc/parts", "smsutil enc/parts", "parts agree", "boundaries agree"],
        caption="Edge cases (encoding, parts; boundaries = the length of every part):",
    )
    disagreements: list[str] = []
    for case, t in EDGES:
        ours, theirs = _ours(t), _smsutil(t)
        same_parts, same_cuts = ours[1] == theirs[1], ours[2] == theirs[2]
        edges.add(
            case,
            f"{ours[0]}/{ours[1]}",
            f"{theirs[0]}/{theirs[1]}",
            "yes" if same_parts else "**no**",
            "yes" if same_cuts else "**no**",
        )
        if ours[0] != theirs[0] or not same_parts or not same_cuts:
            disagreements.append(f"{case}: {_why(case, theirs, ours)}.")
    section.tables.append(edges)
    agree = sum(1 for case, t in EDGES if _ours(t)[1] == _smsutil(t)[1])
    section.headlines.append(Headline("segment counts agreeing with smsutil (edge cases)", f"{agree}/{len(EDGES)}"))
    section.notes += disagreements or ["smsutil and smsgate agree on every edge case."]
    section.note(
        "smsutil walks the text one character at a time in Python and builds every part; smsgate's `analyse` "
        "counts with C-level string operations (`str.translate`, one regex scan) and never builds parts."
    )
    return section
