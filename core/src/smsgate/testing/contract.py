"""The provider contract: the delivery rules, checked on a plugin through its own reply formats.

Subclass it in a plugin's tests, name the plugin and its code table, and say how the gateway
answers each *situation* (in its own wire format) -- or why it cannot::

    import smsgate_acme
    from smsgate.emulator import EmulatorReply
    from smsgate.testing import ProviderContract, Situation

    class TestContract(ProviderContract):
        plugin = smsgate_acme
        codes = smsgate_acme.codes.TABLE.verdicts          # every documented code -> Verdict
        recipients = ("+447700900001", "+447700900002")
        situations = {
            "one_rejected": Situation(recipients=("+447700900001", "+447700900999")),
            "throttled": Situation(
                reply=EmulatorReply.json({"error": "rate"}, 429, headers={"Retry-After": "7"}),
                retry_after=7.0,
            ),
        }
        unsupported = {"server_error": "..."}   # a situation the gateway cannot produce, and why

Every check talks to the plugin's emulator over loopback HTTP through a real ``Gateway`` (the
real engine and rules), and counts what the emulator really took (:meth:`Emulator.take`). A
failing check names the rule it enforces (``docs/delivery-semantics.md``). The checks
(``test_contract_*``) are final: a subclass that overrides one is refused at collection; a
situation is left out only through ``unsupported``, which pytest reports as a skip with the
reason given.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import attrs
import pytest

from smsgate import config
from smsgate.emulator import Emulator, EmulatorReply, Fault
from smsgate.errors import GatewayError, SmsgateError, ValidationError
from smsgate.gateway import Gateway, connect
from smsgate.journal import Journal
from smsgate.models import (
    Balance,
    BalanceQuery,
    Classification,
    Failure,
    HttpRequest,
    HttpResponse,
    Message,
    Operation,
    Price,
    Quote,
    Receipt,
    Reconcile,
    Send,
    SendResult,
    Status,
    StatusQuery,
    Verdict,
)
from smsgate.plugins import Registry, emulator_class
from smsgate.spec import ProviderSpec, Secret
from smsgate.testing.kit import Connector, registry_for

__all__ = ["SITUATIONS", "ProviderContract", "Situation", "secret_spellings"]

#: The situations every gateway is driven through, in the gateway's own reply format.
SITUATIONS = ("accepted", "one_rejected", "bad_credentials", "throttled", "server_error", "unreadable")


@attrs.frozen
class Situation:
    """How the plugin's gateway answers one situation.

    - ``reply``: a canned reply in the gateway's format (an :class:`EmulatorReply`, or an
      :class:`HttpResponse`), served once instead of the emulator's handler -- nothing is taken
      -- or after it when ``processed`` (taken, then this reply).
    - ``fault``: an emulator fault to inject once instead (``Fault.SERVER_ERROR`` answers with
      the emulator's :meth:`Emulator.error_reply`).
    - ``setup``: arranges the emulator (``lambda emu: emu.reject("+48...")``) before the send.
    - ``recipients``: whom to send to; for ``one_rejected`` the *last* one is the rejected one.
    - ``retry_after``: for ``throttled``, the delay in seconds the reply asks for.
    - ``wrong_secret``: send with a wrong secret (the default for ``bad_credentials``).
    """

    reply: EmulatorReply | HttpResponse | None = None
    processed: bool = False
    fault: Fault | None = None
    setup: Callable[[Emulator], None] | None = None
    recipients: tuple[str, ...] | None = None
    retry_after: float | None = None
    wrong_secret: bool = False

    def emulator_reply(self) -> EmulatorReply | None:
        reply = self.reply
        if isinstance(reply, HttpResponse):
            ctype = reply.header("Content-Type") or "text/plain; charset=utf-8"
            rest = tuple((k, v) for k, v in reply.headers if k.lower() != "content-type")
            return EmulatorReply(reply.status, reply.body, ctype, rest)
        return reply

    def http_response(self) -> HttpResponse | None:
        reply = self.emulator_reply()
        if reply is None:
            return None
        return HttpResponse(reply.status, reply.body, (("Content-Type", reply.content_type), *reply.headers))


_DEFAULTS: Mapping[str, Situation] = {
    "accepted": Situation(),
    "bad_credentials": Situation(wrong_secret=True),
    "server_error": Situation(fault=Fault.SERVER_ERROR),
    "unreadable": Situation(fault=Fault.MALFORMED),
}


def secret_spellings(secret: str, user: str | None = None) -> tuple[str, ...]:
    """``secret`` as it may leak: raw, percent-encoded (UTF-8 and Latin-1, ``%20`` and ``+``),
    base64 (standard and URL-safe) of the secret and of ``user:secret``, hex (both cases)."""
    forms = {secret}
    raw = secret.encode("utf-8")
    for encoding in ("utf-8", "latin-1"):
        with contextlib.suppress(UnicodeEncodeError):
            forms |= {quote(secret, safe="", encoding=encoding), quote_plus(secret, safe="", encoding=encoding)}
    for data in (raw, f"{user or ''}:{secret}".encode(), f"{user}:{secret}".encode() if user else raw):
        forms |= {base64.b64encode(data).decode().rstrip("="), base64.urlsafe_b64encode(data).decode().rstrip("=")}
    forms |= {raw.hex(), raw.hex().upper()}
    return tuple(sorted(f for f in forms if f))


class _Anything(dict[str, str]):
    """An environment in which every variable is set (to a value no plugin expects)."""

    def __getitem__(self, key: str) -> str:
        return f"contract-probe-{key}"

    def get(self, key: str, default: Any = None) -> Any:
        return f"contract-probe-{key}"

    def __contains__(self, key: object) -> bool:
        return True


@attrs.frozen
class Run:
    """One message sent through a real gateway: the result, the waits the engine asked for,
    the batch it built, and the classification of the last error."""

    result: SendResult
    sleeps: tuple[float, ...]
    batch: Any
    verdict: Classification | None


def _rule(rule: str, detail: str) -> str:
    return f"contract rule violated: {rule} -- {detail}"


class ProviderContract:
    """Mixin of contract checks. Attributes a subclass sets:

    - ``plugin`` (required): the plugin module or object.
    - ``codes``: every documented gateway code and its verdict (``CodeTable.verdicts``).
    - ``recipients``: two numbers the emulator accepts; ``plain_text``, ``unicode_text``.
    - ``dsn_options``: extra DSN options; ``emulator_kwargs``: the emulator's constructor arguments.
    - ``situations``: situation name -> :class:`Situation` (or a bare reply) in the gateway's format.
    - ``unsupported``: situation name -> why the gateway cannot produce it (reported as a skip).
    - ``dedup_replays``: a resend under a used key is answered with the first reply (otherwise
      it is refused and the outcome is ``unknown``).
    - ``fuzz_examples``: hypothesis examples per parser.
    """

    plugin: object
    codes: Mapping[str, Verdict] = {}
    recipients: tuple[str, ...] = ("+48500600700", "+48500600701")
    plain_text: str = "Hello from the smsgate contract"
    unicode_text: str = "Zażółć gęślą jaźń €"
    dsn_options: str = ""
    emulator_kwargs: Mapping[str, Any] = {}
    dedup_replays: bool = True
    situations: Mapping[str, Situation | EmulatorReply | HttpResponse] = {}
    unsupported: Mapping[str, str] = {}
    fuzz_examples: int = 150

    _FINAL: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            if name.startswith("test_contract_") and name in ProviderContract._FINAL:
                raise TypeError(
                    f"{cls.__name__} overrides {name}: the contract checks are final (a skipped or "
                    "weakened check hides a broken rule); declare a situation the gateway cannot "
                    "produce in `unsupported` instead"
                )
            if name == "unsupported" and isinstance(value, Mapping):
                for key, reason in value.items():
                    if key not in SITUATIONS:
                        raise TypeError(f"{cls.__name__}.unsupported: unknown situation {key!r} ({SITUATIONS})")
                    if not str(reason).strip():
                        raise TypeError(f"{cls.__name__}.unsupported[{key!r}] needs a reason")

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture
    def registry(self) -> Registry:
        return registry_for(self.plugin)

    @pytest.fixture
    def spec(self, registry: Registry) -> ProviderSpec:
        (provider,) = registry.providers.values()
        return provider.spec

    @pytest.fixture
    def emulator(self, spec: ProviderSpec) -> Iterator[Emulator]:
        with emulator_class(spec)(**self.emulator_kwargs) as emulator:
            yield emulator

    def dsn(self, emulator: Emulator) -> str:
        dsn = emulator.dsn()
        if self.dsn_options:
            dsn += ("&" if "?" in dsn else "?") + self.dsn_options.lstrip("?&")
        return dsn

    @pytest.fixture
    def gateway(self, emulator: Emulator, registry: Registry) -> Iterator[Gateway]:
        with Connector(registry, self.dsn(emulator)) as connector:
            yield connector()

    def secret(self, emulator: Emulator) -> str:
        dsn = config.Dsn.parse(self.dsn(emulator))
        assert dsn.password is not None, "the emulator's DSN must carry a secret"
        return dsn.password.reveal()

    def taken(self, emulator: Emulator, recipient: str) -> int:
        """How many times the emulator took a message for ``recipient``. The default reads
        :attr:`Emulator.taken` (the emulator calls :meth:`Emulator.take`); override it for an
        emulator that keeps its own record."""
        return emulator.taken_for(recipient)

    # -- situations ------------------------------------------------------------------------

    def situation(self, name: str) -> Situation:
        """The plugin's situation ``name``; skips (with the plugin's reason) when unsupported,
        fails when neither supplied nor declared unsupported."""
        if name in self.unsupported:
            pytest.skip(f"{name}: unsupported by this gateway: {self.unsupported[name]}")
        given = self.situations.get(name)
        if given is None:
            given = _DEFAULTS.get(name)
        if given is None:
            pytest.fail(
                f"the contract needs the gateway's answer to {name!r}: supply it in `situations` "
                f"(a Situation or a canned reply in the gateway's format), or say why it cannot "
                f"exist in `unsupported = {{{name!r}: 'reason'}}`",
                pytrace=False,
            )
        return given if isinstance(given, Situation) else Situation(reply=given)

    def run(
        self, name: str, situation: Situation, emulator: Emulator, registry: Registry, recipients: tuple[str, ...]
    ) -> Run:
        """Send one message in ``situation`` through a real gateway to the emulator."""
        dsn = self.dsn(emulator)
        if situation.wrong_secret:
            secret = self.secret(emulator)
            dsn = dsn.replace(quote(secret, safe=""), "wrong" + secret[::-1], 1).replace(
                secret, "wrong" + secret[::-1], 1
            )
        emulator.reset_log()
        if situation.setup is not None:
            situation.setup(emulator)
        reply = situation.emulator_reply()
        if reply is not None:
            emulator.answer(reply, processed=situation.processed)
        elif situation.fault is not None:
            emulator.inject(situation.fault, retry_after=situation.retry_after or 1.0)
        sleeps: list[float] = []
        message = Message(recipients, self.plain_text, key=f"contract-{name}")
        with connect(dsn, registry=registry, sleep=sleeps.append) as gateway:
            result = gateway.send(message)
            batch = gateway.prepare(message)[0].batches[0]
            verdict = None
            if result.error is not None:
                verdict = gateway.hooks.classify_error(Failure(result.error, Send(batch)), gateway.settings)
        emulator.clear_faults()
        return Run(result, tuple(sleeps), batch, verdict)

    def classify_reply(
        self, gateway: Gateway, reply: HttpResponse
    ) -> tuple[SmsgateError | None, Classification | None]:
        """The plugin's own reading of ``reply`` to a send, and its verdict on the error."""
        message = Message(self.recipients[0], self.plain_text, key="contract-direct")
        operation = Send(gateway.prepare(message)[0].batches[0])
        try:
            gateway.hooks.parse_response(operation, reply, gateway.settings)
        except SmsgateError as error:
            return error, gateway.hooks.classify_error(Failure(error, operation), gateway.settings)
        return None, None

    def _offers(self, spec: ProviderSpec) -> tuple[bool, bool]:
        caps = spec.capabilities
        return caps.dedup is not None, "reconcile" in caps.operations

    def _check_taken(self, emulator: Emulator, recipient: str, expected: int, rule: str) -> None:
        got = self.taken(emulator, recipient)
        assert got == expected, _rule(rule, f"the emulator took {recipient} {got} time(s), expected {expected}")

    def _require_counting(self, emulator: Emulator, recipients: tuple[str, ...]) -> None:
        if not any(self.taken(emulator, r) for r in recipients):
            pytest.fail(
                "the emulator does not record what it takes: call self.take(recipient, key) in its "
                "handle() for every accepted recipient (or override ProviderContract.taken)",
                pytrace=False,
            )

    # -- registration and configuration ----------------------------------------------------

    def test_contract_spec_is_valid(self, spec: ProviderSpec, emulator: Emulator) -> None:
        assert attrs.has(spec.settings), "settings must be an attrs class"
        fields = attrs.fields_dict(spec.settings)
        for name in spec.credentials:
            assert name is None or name in fields, f"credential field {name!r} is not a setting"
        caps = spec.capabilities
        assert caps.max_recipients >= 1 and caps.max_parts >= 1 and caps.max_connections >= 1
        assert "send" in caps.operations
        assert spec.emulator, "every provider ships an emulator"
        if caps.dedup is not None:
            assert caps.dedup_window is not None and caps.dedup_window > 0, _rule(
                "de-duplication declares its window", f"dedup={caps.dedup!r} without dedup_window"
            )
        declared = type(emulator).dedup
        assert declared is None or declared == caps.dedup, _rule(
            "the emulator de-duplicates as the provider declares",
            f"Emulator.dedup={declared!r} but Capabilities.dedup={caps.dedup!r}",
        )

    # -- the six situations ----------------------------------------------------------------

    def test_contract_accepted(self, emulator: Emulator, registry: Registry) -> None:
        situation = self.situation("accepted")
        recipients = situation.recipients or self.recipients
        run = self.run("accepted", situation, emulator, registry, recipients)
        statuses = [o.status for o in run.result.outcomes]
        assert statuses == [Status.ACCEPTED] * len(recipients), _rule(
            "accepted only when the gateway says so, and then reported accepted", repr(run.result)
        )
        assert all(o.message_id for o in run.result.outcomes), _rule("accepted carries the gateway's id", "")
        assert run.result.requests == 1, _rule("an accepted send is sent once", f"{run.result.requests} requests")
        self._require_counting(emulator, recipients)
        for recipient in recipients:
            self._check_taken(emulator, recipient, 1, "accepted means taken, once")

    def test_contract_one_rejected(self, emulator: Emulator, registry: Registry) -> None:
        situation = self.situation("one_rejected")
        recipients = situation.recipients or self.recipients
        assert len(recipients) >= 2, "one_rejected needs two recipients or more (the last is rejected)"
        run = self.run("one_rejected", situation, emulator, registry, recipients)
        *good, bad = run.result.outcomes
        assert bad.status is Status.REJECTED, _rule(
            "a per-recipient rejection is reported rejected, never accepted", f"{bad.recipient}: {bad}"
        )
        assert bad.code is not None, _rule("a rejection carries the gateway's code", repr(bad))
        assert all(o.status is Status.ACCEPTED for o in good), _rule(
            "the other recipients of a partly rejected request are accepted", repr(run.result)
        )
        if situation.reply is None or situation.processed:
            self._require_counting(emulator, recipients)
            self._check_taken(emulator, bad.recipient, 0, "rejected means not taken")

    def test_contract_bad_credentials(self, emulator: Emulator, registry: Registry) -> None:
        situation = self.situation("bad_credentials")
        run = self.run("bad_credentials", situation, emulator, registry, self.recipients[:1])
        rule = "bad credentials are fatal: refused, never resent unchanged"
        assert run.verdict is not None and run.verdict.verdict is Verdict.FATAL, _rule(
            rule, f"classified {run.verdict} ({run.result.error!r})"
        )
        assert all(o.status is Status.REJECTED and not o.retryable for o in run.result.outcomes), _rule(
            rule, repr(run.result)
        )
        assert run.result.requests == 1, _rule(rule, f"sent {run.result.requests} times")
        self._check_taken(emulator, self.recipients[0], 0, "refused means not taken")

    def test_contract_throttled(self, emulator: Emulator, registry: Registry, gateway: Gateway) -> None:
        situation = self.situation("throttled")
        rule = "throttling is `throttled` with the gateway's delay, honoured, then resent"
        delay = situation.retry_after
        response = situation.http_response()
        if response is None and situation.fault is Fault.THROTTLE:
            reply = emulator.error_reply("throttled", 429, situation.retry_after or 1.0)
            response = Situation(reply=reply).http_response()
        if response is not None:
            error, verdict = self.classify_reply(gateway, response)
            assert verdict is not None and verdict.verdict is Verdict.THROTTLED, _rule(
                rule, f"the throttling reply is classified {verdict} ({error!r})"
            )
            if delay is not None:
                assert verdict.retry_after == pytest.approx(delay), _rule(
                    "retry_after is passed on (parse_response -> error -> classify_error)",
                    f"the reply asks for {delay} s, the classification says {verdict.retry_after}",
                )
        run = self.run("throttled", situation, emulator, registry, self.recipients[:1])
        assert run.result.ok and run.result.requests == 2, _rule(rule, repr(run.result))
        if delay is not None:
            assert run.sleeps and run.sleeps[0] >= delay - 1e-6, _rule(
                "Retry-After is honoured", f"waited {run.sleeps} before resending, the gateway asked {delay} s"
            )
        if response is None or not situation.processed:
            self._check_taken(emulator, self.recipients[0], 1, "a throttled attempt is not taken; the resend is")

    def test_contract_server_error(
        self, emulator: Emulator, registry: Registry, gateway: Gateway, spec: ProviderSpec
    ) -> None:
        situation = self.situation("server_error")
        rule = "an HTTP 5xx may have been taken: ambiguous, resent only under de-duplication"
        response = situation.http_response()
        if response is None and situation.fault is Fault.SERVER_ERROR:
            reply = emulator.error_reply("server_error", 503, None)
            response = Situation(reply=reply).http_response()
        if response is not None:
            error, verdict = self.classify_reply(gateway, response)
            assert verdict is not None and verdict.verdict is Verdict.AMBIGUOUS, _rule(
                rule, f"the server error is classified {verdict} ({error!r})"
            )
        self._doubtful("server_error", situation, emulator, registry, spec, rule)

    def test_contract_unreadable(
        self, emulator: Emulator, registry: Registry, gateway: Gateway, spec: ProviderSpec
    ) -> None:
        situation = self.situation("unreadable")
        rule = "an unreadable reply may hide an acceptance: never accepted, ambiguous"
        response = situation.http_response()
        if response is not None:
            error, verdict = self.classify_reply(gateway, response)
            assert error is not None, _rule(rule, "the unreadable reply was read as a success")
            assert verdict is not None and verdict.verdict is Verdict.AMBIGUOUS, _rule(
                rule, f"classified {verdict} ({error!r})"
            )
        if situation.reply is not None and not situation.processed:
            situation = attrs.evolve(situation, processed=True)  # harsher: taken, then unreadable
        self._doubtful("unreadable", situation, emulator, registry, spec, rule)

    def _doubtful(
        self, name: str, situation: Situation, emulator: Emulator, registry: Registry, spec: ProviderSpec, rule: str
    ) -> None:
        dedup, lookup = self._offers(spec)
        recipient = self.recipients[0]
        run = self.run(name, situation, emulator, registry, (recipient,))
        (outcome,) = run.result.outcomes
        taken = self.taken(emulator, recipient)
        assert taken <= 1, _rule("never sent twice", f"the emulator took {recipient} {taken} times")
        assert outcome.status is not Status.REJECTED, _rule(
            "rejected only when no attempt could have been taken", repr(outcome)
        )
        if outcome.status is Status.ACCEPTED:
            assert taken == 1, _rule("accepted only if taken", f"accepted, but the emulator took it {taken} times")
        if not dedup and not lookup:
            assert outcome.status is Status.UNKNOWN, _rule(rule, f"without de-duplication or lookup: {outcome}")
            assert run.result.requests == 1, _rule(rule, f"resent {run.result.requests - 1} times without a key")

    # -- lost replies and de-duplication ---------------------------------------------------

    @pytest.mark.parametrize("fault", [Fault.RESET_BEFORE_REPLY, Fault.PROCESSED_THEN_ERROR])
    def test_contract_lost_reply(
        self, emulator: Emulator, registry: Registry, spec: ProviderSpec, fault: Fault
    ) -> None:
        dedup, lookup = self._offers(spec)
        recipient = self.recipients[0]
        situation = Situation(fault=fault)
        run = self.run(f"lost-{fault.value}", situation, emulator, registry, (recipient,))
        (outcome,) = run.result.outcomes
        self._require_counting(emulator, (recipient,))
        taken = self.taken(emulator, recipient)
        if dedup:
            assert taken == 1, _rule(
                "never sent twice: a resend under the de-dup key is taken once",
                f"the emulator took {recipient} {taken} times after a lost reply "
                f"({run.result.requests} requests); is the key sent, the same on every attempt, "
                "and does the emulator de-duplicate by it?",
            )
            assert run.result.requests >= 2, _rule("under de-duplication a lost reply is resent", repr(run.result))
            sends = [
                r
                for r in emulator.requests
                if (r.method, r.path) == (emulator.requests[0].method, emulator.requests[0].path)
            ]
            header = [r.header(str(spec.capabilities.dedup)) for r in sends]
            assert all((r.query, r.body) == (sends[0].query, sends[0].body) for r in sends) and len(set(header)) == 1, (
                _rule(
                    "the de-dup key is identical across attempts and previews",
                    "the resend after a lost reply differs from the first attempt",
                )
            )
            expected = {Status.ACCEPTED} if self.dedup_replays else {Status.UNKNOWN, Status.ACCEPTED}
            assert outcome.status in expected, _rule("the outcome after a lost reply is the truth", repr(outcome))
        elif lookup:
            assert taken == 1 and outcome.status is Status.ACCEPTED, _rule(
                "a lost reply is looked up, and found", f"taken {taken}: {outcome}"
            )
        else:
            assert outcome.status is Status.UNKNOWN, _rule(
                "without de-duplication a lost reply is `unknown`, never resent", repr(outcome)
            )
            assert taken == 1 and run.result.requests == 1, _rule(
                "without de-duplication a lost reply is never resent", f"{run.result.requests} requests, taken {taken}"
            )

    def test_contract_dedup_key_stable(self, gateway: Gateway, spec: ProviderSpec) -> None:
        caps = spec.capabilities
        if caps.dedup is None:
            pytest.skip("the provider declares no de-duplication (Capabilities.dedup is None)")
        assert caps.dedup_window and caps.dedup_window > 0, _rule("de-duplication declares its window", "")
        one = Message(self.recipients, self.plain_text, key="contract-key-1")
        two = attrs.evolve(one, key="contract-key-2")
        first, again = gateway.preview(one, redact=False), gateway.preview(one, redact=False)
        assert first == again, _rule(
            "the de-dup key is identical across attempts and previews",
            "two previews of the same message and key differ",
        )
        (plan,) = gateway.prepare(one)[0].batches[:1]
        built = [gateway.hooks.build_request(Send(plan), gateway.settings, gateway.endpoint) for _ in range(2)]
        assert built[0] == built[1] == first[0], _rule(
            "the de-dup key is identical across attempts and previews", "build_request gave different requests"
        )
        other = gateway.preview(two, redact=False)
        assert other != first, _rule(
            f"the de-dup key is sent (in {caps.dedup!r})",
            "messages with different keys build the same request: the gateway cannot tell them apart",
        )

    # -- purity ----------------------------------------------------------------------------

    def test_contract_hooks_are_pure(
        self, gateway: Gateway, spec: ProviderSpec, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
        message = Message(self.recipients, self.plain_text, key="contract-pure")
        batch = gateway.prepare(message)[0].batches[0]
        operations: list[Operation] = [Send(batch)]
        if "status" in spec.capabilities.operations:
            operations.append(StatusQuery(("contract-id-1",), self.recipients[0]))
        if "balance" in spec.capabilities.operations:
            operations.append(BalanceQuery())
        if "reconcile" in spec.capabilities.operations:
            operations.append(Reconcile(batch))
        situation = self.situations.get("accepted")
        canned = [HttpResponse(200, b"{}"), HttpResponse(500, b"error")]
        if isinstance(situation, Situation) and situation.http_response() is not None:
            canned.append(situation.http_response())  # type: ignore[arg-type]

        def outputs() -> list[Any]:
            out: list[Any] = []
            hooks, settings, endpoint = gateway.hooks, gateway.settings, gateway.endpoint
            for operation in operations:
                out.append(_attempt(functools.partial(hooks.build_request, operation, settings, endpoint)))
            for response in canned:
                out.append(_attempt(functools.partial(hooks.parse_response, Send(batch), response, settings)))
            if spec.capabilities.scheduling:
                out.append(_attempt(lambda: gateway.hooks.schedule_format(when, gateway.settings)))
            return out

        def world(clock: float, env: Mapping[str, str], seed: int) -> Any:
            stack = contextlib.ExitStack()
            patch = stack.enter_context(monkeypatch.context())
            patch.setattr(time, "time", lambda: clock)
            patch.setattr(time, "time_ns", lambda: int(clock * 1e9))
            patch.setattr(time, "monotonic", lambda: clock)
            patch.setattr(os, "environ", env)
            random.seed(seed)
            return stack

        state = random.getstate()
        try:
            with world(1_000_000_000.0, dict(os.environ), 1):
                first = outputs()
            with world(1_900_000_000.0, _Anything(), 2):
                second = outputs()
        finally:
            random.setstate(state)
        for a, b in zip(first, second):
            assert a == b, _rule(
                "hooks are pure: no clock, no environment, no randomness",
                f"the same hook call gave\n  {a!r}\nunder one clock/environment/random state and\n  {b!r}\n"
                "under another",
            )

    # -- secrets ---------------------------------------------------------------------------

    def test_contract_secret_never_shown(
        self, emulator: Emulator, registry: Registry, caplog: pytest.LogCaptureFixture, tmp_path: Path
    ) -> None:
        secret = self.secret(emulator)
        user = config.Dsn.parse(self.dsn(emulator)).user
        spellings = secret_spellings(secret, user)
        caplog.set_level(logging.DEBUG)
        surfaces: dict[str, str] = {}
        dsn = config.Dsn.parse(self.dsn(emulator))
        surfaces["dsn"] = f"{dsn} {dsn!r}"
        journal = Journal(tmp_path / "journal")
        with connect(self.dsn(emulator), registry=registry, sleep=lambda _: None, journal=journal) as gateway:
            assert any(
                isinstance(getattr(gateway.settings, f.name), Secret) for f in attrs.fields(type(gateway.settings))
            ), "the secret must be a Secret setting"
            surfaces["repr(gateway)"] = repr(gateway)
            surfaces["settings"] = f"{gateway.settings!r} {gateway.settings}"
            for request in gateway.preview(Message(self.recipients, self.plain_text)):
                surfaces[f"preview {request.url}"] = _show(request)
            for i, fault in enumerate((Fault.SERVER_ERROR, Fault.MALFORMED, Fault.RESET_BEFORE_REPLY, None)):
                if fault is not None:
                    emulator.inject(fault, times=10)
                result = gateway.send(Message(self.recipients[0], self.plain_text, key=f"contract-secret-{i}"))
                surfaces[f"result {fault}"] = _show(result)
                emulator.clear_faults()
        surfaces["journal"] = "".join(p.read_text("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file())
        wrong = self.dsn(emulator).replace(secret, secret[::-1] + "x")
        with connect(wrong, registry=registry, sleep=lambda _: None) as gateway:
            result = gateway.send(Message(self.recipients[0], self.plain_text))
            surfaces["result with a wrong secret"] = _show(result)
        surfaces["logs"] = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
        for where, text in surfaces.items():
            for form in spellings:
                assert form not in text, _rule(
                    "secrets never appear in a repr, a log line, an error, a preview or the journal",
                    f"the secret (as {form!r}) is in {where}",
                )

    # -- the rest of the sending contract --------------------------------------------------

    def test_contract_send_unicode_and_long(self, gateway: Gateway) -> None:
        for text in (self.unicode_text, self.plain_text + " " + "x" * 200):
            result = gateway.send(Message(self.recipients[0], text))
            assert result.ok, result

    def test_contract_bad_number_refused_before_sending(self, gateway: Gateway, emulator: Emulator) -> None:
        emulator.reset_log()
        with pytest.raises(ValidationError, match="12ab"):
            gateway.send(Message([self.recipients[0], "12ab"], self.plain_text))
        assert emulator.requests == []

    def test_contract_preview_sends_nothing(self, gateway: Gateway, emulator: Emulator) -> None:
        emulator.reset_log()
        requests = gateway.preview(Message(self.recipients, self.plain_text))
        assert requests and emulator.requests == []

    def test_contract_schedule(self, gateway: Gateway, spec: ProviderSpec) -> None:
        when = datetime.now(timezone.utc) + timedelta(days=2)
        message = Message(self.recipients[0], self.plain_text, send_at=when)
        if not spec.capabilities.scheduling:
            with pytest.raises(ValidationError, match="send_at"):
                gateway.send(message)
            return
        result = gateway.send(message)
        assert [o.status for o in result.outcomes] == [Status.SCHEDULED], result
        with pytest.raises(ValidationError, match="past"):
            gateway.send(attrs.evolve(message, send_at=datetime.now(timezone.utc) - timedelta(hours=1)))

    def test_contract_code_table(self, gateway: Gateway) -> None:
        assert self.codes, "declare the gateway's code table in `codes`"
        message = Message(self.recipients[0], self.plain_text)
        operation = Send(gateway.prepare(message)[0].batches[0])
        for code, expected in self.codes.items():
            failure = Failure(GatewayError("test", code=code, retry_after=7.0), operation)
            got = gateway.hooks.classify_error(failure, gateway.settings)
            assert got.verdict is expected, f"code {code}: {got.verdict} != {expected}"
            if expected is Verdict.THROTTLED:
                assert got.retry_after == 7.0, _rule(
                    "classify_error passes retry_after on", f"code {code}: retry_after {got.retry_after}, expected 7.0"
                )

    def test_contract_parsers_never_crash(self, gateway: Gateway, spec: ProviderSpec) -> None:
        hypothesis, st = _import_hypothesis()
        batch = gateway.prepare(Message(self.recipients, self.plain_text, key="contract-fuzz"))[0].batches[0]
        caps = spec.capabilities
        operations: list[Operation] = [Send(batch)]
        if "reconcile" in caps.operations:
            operations.append(Reconcile(batch))
        if "status" in caps.operations:
            operations.append(StatusQuery(("contract-id-1",)))
        if "balance" in caps.operations:
            operations.append(BalanceQuery())
        if "quote" in caps.operations:
            operations.append(Quote(batch))
        samples = [b"", b"{}", b"[]", b"OK", b"0", b"-1", b'{"results": [{}]}']
        for value in self.situations.values():
            reply = value if isinstance(value, Situation) else Situation(reply=value)
            response = reply.http_response()
            if response is not None:
                samples.append(response.body)
        bodies = st.one_of(
            st.binary(max_size=300),
            st.text(max_size=200).map(lambda t: t.encode("utf-8")),
            st.tuples(st.sampled_from(samples), st.integers(0, 400)).map(lambda p: p[0][: p[1]]),
            st.tuples(st.sampled_from(samples), st.binary(max_size=20)).map(lambda p: p[0] + p[1]),
        )
        headers = st.lists(
            st.tuples(st.sampled_from(["Content-Type", "Retry-After", "X-Other"]), st.text(max_size=30)), max_size=3
        )
        pm = gateway.hooks.pm
        settings = gateway.settings
        expected: dict[type[Any], type[Any] | tuple[type[Any], ...]] = {
            Send: Receipt,
            Reconcile: Receipt,
            StatusQuery: tuple,
            BalanceQuery: Balance,
            Quote: Price,
        }

        def check(operation: Operation, status: int, body: bytes, extra: list[tuple[str, str]]) -> None:
            response = HttpResponse(status, body, tuple(extra))
            try:
                value = pm.hook.parse_response(operation=operation, response=response, settings=settings)
            except SmsgateError:
                return
            except Exception as exc:
                raise AssertionError(
                    _rule(
                        "parsers never crash: an unreadable reply raises MalformedResponseError",
                        f"parse_response({type(operation).__name__}, HTTP {status}, {body[:80]!r}) raised "
                        f"{type(exc).__name__}: {exc}",
                    )
                ) from exc
            kind = expected.get(type(operation), object)
            assert isinstance(value, kind), f"parse_response returned {type(value).__name__} for {operation}"
            if isinstance(value, Receipt) and status >= 500:
                assert not any(o.status is Status.ACCEPTED for o in value.outcomes), _rule(
                    "never accepted without the gateway saying so", f"HTTP {status} {body!r} read as accepted"
                )

        fuzz = hypothesis.settings(max_examples=self.fuzz_examples, deadline=None, database=None)
        run_check: Callable[[], None] = fuzz(
            hypothesis.given(
                st.sampled_from(operations), st.sampled_from([200, 201, 202, 400, 401, 429, 500, 503]), bodies, headers
            )(check)
        )
        run_check()
        provider = pm.get_plugin(f"provider:{spec.name}")
        for hook_name in ("parse_delivery_report", "parse_inbound"):
            hook = getattr(pm.hook, hook_name, None)
            if hook is not None and any(impl.plugin is provider for impl in hook.get_hookimpls()):
                check_callback = _callback_check(hook, hook_name, settings)
                fuzz(hypothesis.given(bodies, st.sampled_from(["", "a=1&b=2", "id=1"]))(check_callback))()


def _callback_check(hook: Any, hook_name: str, settings: Any) -> Callable[[bytes, str], None]:
    """The fuzz check of one callback parser (delivery reports, inbound messages)."""

    def check(body: bytes, query: str) -> None:
        request = HttpRequest("POST", "http://127.0.0.1/callback" + (f"?{query}" if query else ""), (), body)
        try:
            hook(request=request, settings=settings)
        except SmsgateError:
            return
        except Exception as exc:
            raise AssertionError(
                _rule(
                    f"parsers never crash: {hook_name} raises MalformedResponseError",
                    f"{body[:80]!r}: {type(exc).__name__}: {exc}",
                )
            ) from exc

    return check


#: The fuzzing library: a hard dependency of ``smsgate[test]`` (a variable so a test can hide it).
HYPOTHESIS = "hypothesis"


def _import_hypothesis() -> tuple[Any, Any]:
    """hypothesis and its strategies; missing, the fuzz check fails -- it never skips."""
    import importlib

    try:
        return importlib.import_module(HYPOTHESIS), importlib.import_module(f"{HYPOTHESIS}.strategies")
    except ImportError:
        pytest.fail("hypothesis is required by the contract's parser fuzzing: install smsgate[test]", pytrace=False)


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return ("value", call())
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


def _show(value: HttpRequest | SendResult) -> str:
    if isinstance(value, HttpRequest):
        return f"{value.url}\n{value.headers!r}\n{value.body.decode('latin-1')}"
    error = value.error
    return "\n".join(
        [repr(value), str(error), repr(error), repr(getattr(error, "body", "")), repr(getattr(error, "args", ""))]
    )


ProviderContract._FINAL = frozenset(n for n in vars(ProviderContract) if n.startswith("test_contract_"))
