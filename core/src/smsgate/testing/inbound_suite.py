"""The inbound store test suite: every :class:`~smsgate.inbound.InboundStore` runs these tests.

Subclass :class:`InboundStoreSuite` (a store of its own, e.g. in memory) or
:class:`DurableInboundStoreSuite` (kept in a campaign store) in a test module and give it a
factory::

    class TestMyInboundStore(DurableInboundStoreSuite):
        def stores(self) -> tuple[Store | None, InboundStore]:   # fresh and empty, per call
            store = MyStore(...)
            return store, MyInboundStore(store=store)

        def reopen(self, store, inbound) -> tuple[Store | None, InboundStore]:
            return ...                     # the same data through new handles

Each test makes its own stores through the factory and closes them. A durable store's delivery
reports must reach the campaign rows, and what it kept must be recognised through a second
handle (a restart, another serve worker), concurrent writers applying a report once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any

import pytest

from smsgate.inbound import InboundMessage, InboundStore, report_ident, take_inbound, take_report
from smsgate.models import DeliveryReport, DeliveryStatus
from smsgate.store import CampaignRecord, Row, RowRef, SendRecord, Store
from smsgate.suppression import DEFAULT_KEYWORDS

A, B = "+48500600700", "+48500600701"
Pair = tuple[Store | None, InboundStore]


def _close(pair: Pair) -> None:
    store, inbound = pair
    inbound.close()
    if store is not None:
        store.close()


def sent_campaign(
    store: Store, ids: dict[str, str], *, name: str = "c", gateway: str = "gw", provider: str = "outbox"
) -> None:
    """A campaign of ``gateway`` (at ``provider``) whose rows were accepted with ``ids``
    (recipient → gateway id), as a campaign run leaves them."""
    store.save_campaign(CampaignRecord(name, gateway, provider, "t", "s.csv", "d", len(ids)))
    store.add_rows(Row(name, n, number, "d") for n, number in enumerate(ids, start=1))
    settle(store, ids, name=name)


def settle(store: Store, ids: dict[str, str], *, name: str = "c") -> None:
    refs = [RowRef(name, n, number) for n, number in enumerate(ids, start=1)]
    outcomes = tuple({"recipient": r, "status": "accepted", "message_id": m} for r, m in ids.items())
    record = SendRecord("outbox", f"{name}-k", "d", tuple(ids), "sending", 1.0)
    store.begin(record, refs)
    store.settle(SendRecord("outbox", f"{name}-k", "d", tuple(ids), "done", 1.0, outcomes), refs)


class InboundStoreSuite:
    """The contract of an inbound store (see the module docstring)."""

    def stores(self) -> Pair:
        raise NotImplementedError("an inbound store's test class provides stores()")

    @contextmanager
    def _open(self) -> Iterator[Pair]:
        pair = self.stores()
        try:
            yield pair
        finally:
            _close(pair)

    # -- events kept once ---------------------------------------------------------------------

    def test_a_report_is_kept_once_and_handled_once(self) -> None:
        with self._open() as (_, inbound):
            report = DeliveryReport("42", DeliveryStatus.DELIVERED, A, code="11")
            assert inbound.record_report("gw", "outbox", report) is True
            assert inbound.record_report("gw", "outbox", report) is True  # not handled yet: process again
            inbound.mark_handled("report", "gw", report_ident(report))
            assert inbound.record_report("gw", "outbox", report) is False
            assert len(inbound.reports()) == 1 and inbound.reports()[0].handled
            other_status = DeliveryReport("42", DeliveryStatus.PENDING, A, code="10")
            assert inbound.record_report("gw", "outbox", other_status) is True
            assert [r.message_id for r in inbound.reports(message_id="42")] == ["42", "42"]
            assert inbound.record_report("other", "outbox", report, handled=True) is True  # per gateway
            assert inbound.record_report("other", "outbox", report) is False
            assert [r.gateway for r in inbound.reports(gateway="other")] == ["other"]

    def test_an_incoming_message_is_kept_once(self) -> None:
        with self._open() as (_, inbound):
            message = InboundMessage(A, "Hello", "+48100", "mo1", gateway="gw")
            assert inbound.record_inbound(message) is True
            assert inbound.record_inbound(message) is True  # not handled yet
            inbound.mark_handled("inbound", "gw", message.ident())
            assert inbound.record_inbound(message) is False
            (kept,) = inbound.inbound(sender="0048 500 600 700")
            assert (kept.sender, kept.text, kept.recipient, kept.message_id, kept.gateway) == (
                A,
                "Hello",
                "+48100",
                "mo1",
                "gw",
            )
            assert inbound.inbound(gateway="other") == [] and inbound.inbound(sender=B) == []
            no_id = InboundMessage(A, "Hello", gateway="gw")
            assert no_id.ident() != message.ident() and no_id.ident() == InboundMessage(A, "Hello").ident()

    def test_a_failing_hook_loses_nothing_and_the_resend_is_processed(self) -> None:
        with self._open() as (_, inbound):
            report = DeliveryReport("7", DeliveryStatus.DELIVERED, A)
            seen: list[str] = []

            def hook(r: DeliveryReport) -> None:
                if not seen:
                    seen.append("failed")
                    raise RuntimeError("app down")
                seen.append(r.message_id)

            with pytest.raises(RuntimeError):
                take_report(inbound, "gw", "outbox", report, [hook])
            assert [(r.message_id, r.handled) for r in inbound.reports()] == [("7", False)]
            assert take_report(inbound, "gw", "outbox", report, [hook]) is True  # the resend
            assert take_report(inbound, "gw", "outbox", report, [hook]) is False  # handled
            assert seen == ["failed", "7"] and inbound.reports()[0].handled
            assert take_report(inbound, "gw", "outbox", DeliveryReport("8", DeliveryStatus.FAILED)) is True
            assert take_report(inbound, "gw", "outbox", DeliveryReport("8", DeliveryStatus.FAILED)) is False

    def test_take_inbound_applies_opt_outs_and_hooks_once(self) -> None:
        with self._open() as (_, inbound):
            seen: list[str] = []
            stop = InboundMessage(A, "Stop.", message_id="1", gateway="gw")
            assert take_inbound(inbound, stop, DEFAULT_KEYWORDS, [lambda m: seen.append(m.text)]) is True
            assert take_inbound(inbound, stop, DEFAULT_KEYWORDS, [lambda m: seen.append(m.text)]) is False
            assert seen == ["Stop."] and inbound.suppressed(["48500600700"]) == {"48500600700"}
            (entry,) = inbound.suppressions()
            assert (entry.number, entry.gateway, entry.reason) == (A, "gw", "keyword 'stop'") and entry.at > 0
            start = InboundMessage(A, "START", message_id="2", gateway="gw")
            assert take_inbound(inbound, start, DEFAULT_KEYWORDS) is True
            assert inbound.suppressions() == []

    # -- the suppression list and cursors -----------------------------------------------------

    def test_the_suppression_list(self) -> None:
        with self._open() as (_, inbound):
            assert inbound.suppress([A, "0048500600700", "+447700900001", "n/a"], reason="keyword") == 2
            assert inbound.suppress([A]) == 0
            assert inbound.suppressed(["48500600700", "+33600000000"]) == {"48500600700"}
            assert inbound.suppressed([]) == set()
            many = [f"+4860000{n:04d}" for n in range(1200)]  # more than one query's worth
            assert inbound.suppress(many[::2], reason="import") == 600
            assert inbound.suppressed(many) == set(many[::2])
            assert inbound.unsuppress(["+447700900001", "+1999", *many]) == 601
            assert [(s.number, s.reason) for s in inbound.suppressions()] == [(A, "keyword")]

    def test_pull_cursors_are_kept_per_gateway(self) -> None:
        with self._open() as (_, inbound):
            assert inbound.cursor("gw") is None
            inbound.save_cursor("gw", "41")
            inbound.save_cursor("gw", "2014-10-21 11:18:03")
            inbound.save_cursor("other", "1")
            assert inbound.cursor("gw") == "2014-10-21 11:18:03" and inbound.cursor("other") == "1"


class DurableInboundStoreSuite(InboundStoreSuite):
    """The contract of an inbound store kept in a campaign store (SQLite, PostgreSQL): besides
    :class:`InboundStoreSuite`, reports reach the campaign rows, and what was kept is recognised
    through new handles (a restart, another serve worker), concurrent writers applying a report
    once."""

    def reopen(self, store: Store | None, inbound: InboundStore) -> Pair:
        """New handles on the same data (another process)."""
        raise NotImplementedError("a durable inbound store's test class provides reopen()")

    def _campaign_store(self, store: Store | None) -> Store:
        assert store is not None, "stores() of a durable inbound store returns its campaign store"
        return store

    # -- campaign rows ------------------------------------------------------------------------

    def test_reports_update_the_campaign_rows(self) -> None:
        with self._open() as (maybe_store, inbound):
            store = self._campaign_store(maybe_store)
            sent_campaign(store, {A: "a", B: "b"})
            sent_campaign(store, {A: "a"}, name="elsewhere", gateway="another", provider="bulksms")
            assert inbound.record_report("gw", "outbox", DeliveryReport("a", DeliveryStatus.DELIVERED)) is True
            assert inbound.record_report("gw", "outbox", DeliveryReport("b", DeliveryStatus.EXPIRED)) is True
            assert inbound.record_report("gw", "outbox", DeliveryReport("b", DeliveryStatus.PENDING)) is True
            assert store.counts("c") == {"delivered": 1, "expired": 1}
            assert store.counts("elsewhere") == {"accepted": 1}  # another gateway's campaign, same id
            sent_campaign(store, {B: "x"}, name="by-provider", gateway="outbox")
            inbound.record_report("gw", "outbox", DeliveryReport("x", DeliveryStatus.DELIVERED))
            assert store.counts("by-provider") == {"delivered": 1}  # sent through the provider by name
            assert sorted((r.message_id, r.status, r.rows) for r in inbound.reports()) == [
                ("a", "delivered", 1),
                ("b", "expired", 1),
                ("b", "pending", 0),
                ("x", "delivered", 1),
            ]

    def test_a_report_before_its_row_settled_applies_when_resent(self) -> None:
        with self._open() as (maybe_store, inbound):
            store = self._campaign_store(maybe_store)
            store.save_campaign(CampaignRecord("c", "gw", "outbox", "t", "s.csv", "d", 1))
            store.add_rows([Row("c", 1, A, "d")])
            early = DeliveryReport("a", DeliveryStatus.DELIVERED)
            assert inbound.record_report("gw", "outbox", early) is True  # its hooks will fail: unhandled
            assert inbound.reports()[0].rows == 0
            settle(store, {A: "a"})
            assert inbound.record_report("gw", "outbox", early, handled=True) is True  # the resend
            assert store.counts("c") == {"delivered": 1}
            assert [(r.rows, r.handled) for r in inbound.reports()] == [(1, True)]
            assert inbound.record_report("gw", "outbox", early) is False

    # -- restarts and concurrent writers ------------------------------------------------------

    def _second(self, pair: Pair) -> Pair:
        return self.reopen(*pair)

    def test_what_was_kept_is_recognised_after_a_restart(self) -> None:
        with self._open() as first:
            _, inbound = first
            report = DeliveryReport("42", DeliveryStatus.DELIVERED, A)
            message = InboundMessage(A, "STOP", message_id="mo1", gateway="gw")
            inbound.record_report("gw", "outbox", report, handled=True)
            inbound.record_report("gw", "outbox", DeliveryReport("43", DeliveryStatus.DELIVERED))  # unhandled
            take_inbound(inbound, message, DEFAULT_KEYWORDS)
            inbound.save_cursor("gw", "c1")
            second = self._second(first)
            try:
                _, again = second
                assert again.record_report("gw", "outbox", report) is False
                assert again.record_report("gw", "outbox", DeliveryReport("43", DeliveryStatus.DELIVERED)) is True
                assert again.record_inbound(message) is False
                assert again.suppressed([A]) == {A} and again.cursor("gw") == "c1"
                assert len(again.reports()) == 2 and len(again.inbound()) == 1
            finally:
                _close(second)

    def test_writers_given_the_same_report_at_once_apply_it_once(self) -> None:
        """Serve workers that each receive the same resent report at the same moment."""
        with self._open() as first:
            store = first[0]
            if store is not None:
                sent_campaign(store, {A: "a"})
            writers = 6
            report = DeliveryReport("a", DeliveryStatus.DELIVERED, A)
            message = InboundMessage(A, "hello", message_id="mo1", gateway="gw")
            with ExitStack() as handles:
                pairs = [first]
                for _ in range(writers - 1):
                    pair = self.reopen(*first)
                    handles.callback(_close, pair)
                    pairs.append(pair)
                calls: list[Callable[[], Any]] = [
                    *(partial(i.record_report, "gw", "outbox", report, handled=True) for _, i in pairs),
                    *(partial(i.record_inbound, message, handled=True) for _, i in pairs),
                    *(partial(i.suppress, [B], reason="x") for _, i in pairs),
                ]
                results = _at_once(calls)
            assert results[:writers].count(True) == 1  # the report: stored and applied by one writer
            assert results[writers : 2 * writers].count(True) == 1  # the message: by one
            assert sum(results[2 * writers :]) == 1  # the number: added once
            _, inbound = first
            (event,) = inbound.reports()
            assert event.handled and len(inbound.inbound()) == 1
            if store is not None:
                assert event.rows == 1 and store.counts("c") == {"delivered": 1}


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread, all released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = calls[n]()
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results
