"""Opt-outs: STOP-type keywords, and the check that keeps suppressed numbers from being sent to.

An incoming message whose first word (or first words, for "STOP au") is an opt-out keyword of
any configured language puts its sender on the suppression list (the receiver does it:
:mod:`smsgate.serve`); an opt-in keyword (START, UNSTOP...) takes the sender off it again.
Matching ignores case, accents and surrounding punctuation: ``Stop.``, ``arrêt``, ``стоп``.

Before a send, :func:`filter` takes the suppressed recipients out of a message and reports each
of them ``rejected`` with code ``suppressed`` (nothing is sent to them)::

    kept, refused = suppression.filter(message, store.suppressed)
    result = gateway.send(kept) if kept is not None else None
    result = suppression.merge(message, result, refused, provider=gateway.name)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from smsgate.models import Message, Outcome, SendResult, Status

if TYPE_CHECKING:
    from smsgate.inbound import InboundMessage, InboundStore
    from smsgate.store import Store

__all__ = [
    "CODE",
    "OPT_IN",
    "OPT_OUT",
    "Keywords",
    "apply",
    "filter",
    "in_store",
    "merge",
]

#: The outcome code of a recipient skipped because it is on the suppression list.
CODE = "suppressed"
REASON = "the recipient opted out (on the suppression list): not sent"

#: Opt-out keywords per language (ISO 639-1). Sources: the carriers' and gateways' lists
#: (US/CTIA: STOP, END, CANCEL, UNSUBSCRIBE, QUIT; Twilio adds STOPALL, REVOKE, OPTOUT; AWS adds
#: ARRET, TD, REMOVE, OPT-OUT), Octopush's "STOP au XXXXX" (fr), 38-FZ practice (ru: СТОП).
OPT_OUT: Mapping[str, tuple[str, ...]] = {
    "en": ("stop", "stopall", "end", "cancel", "unsubscribe", "quit", "revoke", "optout", "opt-out", "remove", "td"),
    "fr": ("stop", "stop au", "arret", "desabonner", "desinscription"),
    "de": ("stop", "stopp", "abmelden", "abbestellen"),
    "es": ("stop", "baja", "parar", "cancelar"),
    "it": ("stop", "cancella", "basta"),
    "pl": ("stop", "stop sms", "wypisz", "rezygnuje", "koniec"),
    "ru": ("стоп", "stop", "отписаться", "отписка"),
    "uk": ("стоп", "stop", "відписатися"),
    "nl": ("stop", "afmelden"),
    "no": ("stopp", "stop"),
    "sv": ("stopp", "stop"),
}
#: Opt-in keywords per language: the sender comes off the suppression list.
OPT_IN: Mapping[str, tuple[str, ...]] = {
    "en": ("start", "unstop", "yes"),
    "fr": ("start",),
    "de": ("start",),
    "ru": ("старт", "start"),
    "pl": ("start",),
}


def _fold(text: str) -> str:
    """Case, accents and punctuation folded away; words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for c in decomposed:
        if unicodedata.combining(c) and c not in "\u0306\u0308":  # keep й/ї: letters, not accents
            continue
        kept.append(c if c.isalnum() or c == "-" else " ")
    return " ".join(unicodedata.normalize("NFKC", "".join(kept)).split())


@attrs.frozen
class Keywords:
    """The opt-out and opt-in keywords in force: ``languages`` picks from :data:`OPT_OUT` and
    :data:`OPT_IN` (default: all), ``extra_out``/``extra_in`` add your own."""

    languages: tuple[str, ...] | None = None
    extra_out: tuple[str, ...] = ()
    extra_in: tuple[str, ...] = ()
    _out: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    _in: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        langs = self.languages if self.languages is not None else tuple(OPT_OUT)
        out = {_fold(k) for lang in langs for k in OPT_OUT.get(lang, ())} | {_fold(k) for k in self.extra_out}
        opt_in = {_fold(k) for lang in langs for k in OPT_IN.get(lang, ())} | {_fold(k) for k in self.extra_in}
        object.__setattr__(self, "_out", frozenset(k for k in out if k))
        object.__setattr__(self, "_in", frozenset(k for k in opt_in if k))

    def _match(self, text: str, words: frozenset[str]) -> str | None:
        folded = _fold(text)
        if not folded:
            return None
        tokens = folded.split(" ")
        for n in (3, 2, 1):  # the longest phrase first: "stop au" before "stop"
            phrase = " ".join(tokens[:n])
            if len(tokens) >= n and phrase in words:
                return phrase
        return None

    def opt_out(self, text: str) -> str | None:
        """The opt-out keyword ``text`` starts with, or ``None``."""
        return self._match(text, self._out)

    def opt_in(self, text: str) -> str | None:
        """The opt-in keyword ``text`` is (the whole message, so "yes, and also..." is not one)."""
        folded = _fold(text)
        return folded if folded in self._in else None


DEFAULT_KEYWORDS = Keywords()


def apply(store: InboundStore, message: InboundMessage, keywords: Keywords = DEFAULT_KEYWORDS) -> str | None:
    """Act on an incoming message's opt-out or opt-in: an opt-out keyword (or the gateway's own
    opt-out flag) puts the sender on ``store``'s suppression list, an opt-in keyword takes them
    off. Returns ``"opt-out"``, ``"opt-in"`` or ``None``. The receiver and ``smsgate inbound
    fetch`` both call it (through :func:`smsgate.inbound.take_inbound`)."""
    keyword = keywords.opt_out(message.text)
    if message.opt_out or keyword:
        reason = f"keyword {keyword!r}" if keyword else "opt-out reported by the gateway"
        store.suppress([message.sender], reason=reason, gateway=message.gateway)
        return "opt-out"
    if keywords.opt_in(message.text):
        store.unsuppress([message.sender])
        return "opt-in"
    return None


def in_store(store: Store | None) -> Callable[[Iterable[str]], set[str]] | None:
    """The check against the suppression list kept in a campaign store (SQLite or PostgreSQL:
    where ``smsgate serve`` puts opt-outs), or ``None`` for a store without one."""
    from smsgate.inbound import open_inbound

    try:
        return open_inbound(store).suppressed
    except TypeError:
        return None


def filter(
    message: Message,
    suppressed: Callable[[Iterable[str]], set[str]],
    default_region: str | None = None,
) -> tuple[Message | None, tuple[Outcome, ...]]:
    """Split ``message`` into what may be sent and the recipients on the suppression list.

    ``suppressed`` answers which of the given numbers are on the list (e.g.
    ``InboundStore.suppressed``); numbers are asked in E.164 (national ones read with
    ``default_region``; one that cannot be read is asked as written, and the send's own
    validation reports it). Returns the message without the suppressed recipients (``None``
    when none is left) and a ``rejected`` outcome (code ``suppressed``) for each of them.
    Nothing is sent here; the message is returned unchanged when nobody is suppressed.
    """
    from smsgate.errors import SmsgateError
    from smsgate.phone import normalise

    def e164(number: str) -> str:
        try:
            return normalise(number, default_region)
        except SmsgateError:
            return number

    numbers = {r: e164(r) for r in message.to}
    found = suppressed(set(numbers.values()))
    if not found:
        return message, ()
    refused = tuple(Outcome(r, Status.REJECTED, code=CODE, reason=REASON) for r in message.to if numbers[r] in found)
    kept = tuple(r for r in message.to if numbers[r] not in found)
    return (attrs.evolve(message, to=kept) if kept else None), refused


def merge(message: Message, result: SendResult | None, refused: Sequence[Outcome], *, provider: str) -> SendResult:
    """``result`` (of the kept recipients) with the ``refused`` outcomes added, in the order of
    ``message.to``; a result of the refused alone when nothing was sent."""
    if result is None:
        return SendResult(provider, message.key or "", tuple(refused), None, 0)
    if not refused:
        return result
    order = {r: i for i, r in enumerate(message.to)}
    outcomes = sorted((*result.outcomes, *refused), key=lambda o: order.get(o.recipient, len(order)))
    return attrs.evolve(result, outcomes=tuple(outcomes))
