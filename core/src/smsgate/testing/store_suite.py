"""The store test suite: every :class:`~smsgate.store.Store` backend runs these same tests.

Subclass :class:`StoreSuite` in a test module and give it a factory::

    class TestMyStore(StoreSuite):
        def store(self) -> Store:          # a fresh, empty store per call
            return MyStore(...)

        def reopen(self, store: Store) -> Store | None:   # optional: the same data, a new handle
            return MyStore(...)

Each test makes its own store(s) through the factory and closes them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from smsgate.errors import KeyConflictError
from smsgate.journal import Journal
from smsgate.models import Outcome, SendResult, Status
from smsgate.store import CampaignRecord, GatewayHealth, Row, RowRef, SendRecord, Store, iter_rows

A, B, C = "+48500600700", "+48500600701", "+48500600702"


def _outcome(recipient: str, status: str, message_id: str | None = None) -> dict[str, object]:
    return {"recipient": recipient, "status": status, "message_id": message_id, "code": None, "reason": None}


class StoreSuite:
    """The contract of a store backend (see the module docstring)."""

    def store(self) -> Store:
        raise NotImplementedError("a backend's test class provides store()")

    def reopen(self, store: Store) -> Store | None:
        """A second handle on ``store``'s data (a new process), or ``None`` to skip."""
        return None

    @contextmanager
    def _open(self) -> Iterator[Store]:
        store = self.store()
        try:
            yield store
        finally:
            store.close()

    def _campaign(self, store: Store, name: str = "c1", rows: int = 3) -> None:
        store.save_campaign(CampaignRecord(name, "gw", "outbox", "Hi {name}", "in.csv", "d1", rows))
        store.add_rows(Row(name, n, f"+4850060070{n}", f"t{n}") for n in range(1, rows + 1))

    # -- sends (the journal) --------------------------------------------------------------------

    def test_a_send_goes_from_sending_to_done(self) -> None:
        with self._open() as store:
            assert store.send_record("p", "k") is None
            store.begin(SendRecord("p", "k", "d", (A, B), "sending", 100.0))
            found = store.send_record("p", "k")
            assert found is not None and found.state == "sending" and found.recipients == (A, B)
            assert found.started_at == 100.0 and found.digest == "d"
            outcomes = (_outcome(A, "accepted", "m1"), _outcome(B, "rejected"))
            store.settle(SendRecord("p", "k", "d", (A, B), "done", 100.0, outcomes))
            done = store.send_record("p", "k")
            assert done is not None and done.state == "done"
            assert [dict(o) for o in done.outcomes] == [dict(o) for o in outcomes]
            assert store.send_record("other", "k") is None

    def test_import_adds_only_unknown_keys(self) -> None:
        with self._open() as store:
            store.begin(SendRecord("p", "k1", "d", (A,), "sending", 1.0))
            added = store.import_sends(
                [
                    SendRecord("p", "k1", "x", (A,), "done", 1.0, (_outcome(A, "accepted"),)),
                    SendRecord("p", "k2", "d", (A,), "done", 1.0, (_outcome(A, "accepted"),)),
                    SendRecord("p", "k3", "d", (A,), "sending", 2.0),
                ]
            )
            assert added == 2
            k1, k3 = store.send_record("p", "k1"), store.send_record("p", "k3")
            assert k1 is not None and k1.state == "sending" and k1.digest == "d"
            assert k3 is not None and k3.state == "sending" and k3.started_at == 2.0

    # -- campaign rows ----------------------------------------------------------------------------

    def test_campaigns_are_saved_listed_and_replaced(self) -> None:
        with self._open() as store:
            assert store.campaign("c1") is None and store.campaigns() == []
            self._campaign(store)
            record = store.campaign("c1")
            assert record is not None and record.total == 3 and record.template == "Hi {name}"
            store.save_campaign(CampaignRecord("c1", "gw", "outbox", "Hi {name}", "in.csv", "d1", 3, "finished"))
            again = store.campaign("c1")
            assert again is not None and again.state == "finished"
            assert [c.name for c in store.campaigns()] == ["c1"]

    def test_rows_are_added_once_and_read_in_pages(self) -> None:
        with self._open() as store:
            self._campaign(store, rows=7)
            assert store.add_rows([Row("c1", 1, A, "t"), Row("c1", 8, A, "t8")]) == 1
            assert [r.row for r in store.rows("c1", after=2, limit=3)] == [3, 4, 5]
            assert [r.row for r in iter_rows(store, "c1", page=3)] == list(range(1, 9))
            assert store.counts("c1") == {"planned": 8}
            assert store.rows("other") == []

    def test_a_send_moves_its_rows_in_one_step(self) -> None:
        with self._open() as store:
            self._campaign(store)
            refs = [RowRef("c1", 1, "+48500600701"), RowRef("c1", 2, "+48500600702")]
            store.begin(SendRecord("p", "k", "d", ("+48500600701", "+48500600702"), "sending", 1.0), refs)
            sending = store.rows_in_state("c1", "sending")
            assert [(r.row, r.key, r.attempts) for r in sending] == [(1, "k", 1), (2, "k", 1)]
            assert all(r.sent_at is not None for r in sending)
            store.begin(SendRecord("p", "k", "d", ("+48500600701", "+48500600702"), "sending", 1.0), refs)
            outcomes = (_outcome("+48500600701", "accepted", "m1"),)  # the gateway forgot row 2
            store.settle(SendRecord("p", "k", "d", (), "done", 1.0, outcomes), refs)
            rows = {r.row: r for r in store.rows("c1")}
            assert (rows[1].state, rows[1].gateway_id, rows[1].attempts) == ("accepted", "m1", 2)
            assert rows[2].state == "unknown" and rows[2].reason
            assert rows[3].state == "planned" and rows[3].key is None
            assert store.counts("c1") == {"accepted": 1, "unknown": 1, "planned": 1}

    def test_invalid_rows_are_set_without_a_send(self) -> None:
        with self._open() as store:
            self._campaign(store)
            store.set_rows("c1", [(2, "rejected", "invalid", "row 2: bad number")])
            row = store.rows("c1", after=1, limit=1)[0]
            assert (row.state, row.code, row.reason) == ("rejected", "invalid", "row 2: bad number")

    def test_delivery_reports_update_rows_by_gateway_id(self) -> None:
        with self._open() as store:
            self._campaign(store)
            self._campaign(store, "c2")
            for name in ("c1", "c2"):
                ref = [RowRef(name, 1, "+48500600701")]
                store.begin(SendRecord("p", f"k-{name}", "d", (), "sending", 1.0), ref)
                store.settle(
                    SendRecord("p", f"k-{name}", "d", (), "done", 1.0, (_outcome(ref[0].recipient, "accepted", "m1"),)),
                    ref,
                )
            assert store.record_delivery("c1", "m1", "delivered", None, None) == 1
            assert store.record_delivery("c1", "m1", "delivered", None, None) == 0
            assert store.record_delivery("c1", "nope", "expired", None, None) == 0
            row = store.rows("c1", limit=1)[0]
            assert row.state == "delivered" and row.delivered_at is not None and row.gateway_id == "m1"
            assert store.rows("c2", limit=1)[0].state == "accepted"
            with pytest.raises(ValueError):
                store.record_delivery("c1", "m1", "accepted", None, None)

    def test_a_report_for_one_recipient_of_a_shared_id_moves_that_row_only(self) -> None:
        """BulkSMS gives a whole batch one id: its report names the recipient it is about."""
        with self._open() as store:
            self._campaign(store)
            refs = [RowRef("c1", n, f"+4850060070{n}") for n in (1, 2, 3)]
            store.begin(SendRecord("p", "k", "d", (), "sending", 1.0), refs)
            outcomes = tuple(_outcome(r.recipient, "accepted", "batch-7") for r in refs)
            store.settle(SendRecord("p", "k", "d", (), "done", 1.0, outcomes), refs)
            assert store.record_delivery("c1", "batch-7", "delivered", None, None, recipient="4850060070 2") == 1
            assert store.record_delivery("c1", "batch-7", "undelivered", "6", "absent", recipient="+48999") == 0
            assert {r.row: r.state for r in store.rows("c1")} == {1: "accepted", 2: "delivered", 3: "accepted"}
            assert store.record_delivery("c1", "batch-7", "expired", None, None) == 3, "no recipient: every row"

    def test_a_report_naming_its_number_in_another_format_moves_the_ids_only_row(self) -> None:
        with self._open() as store:
            self._campaign(store)
            refs = [RowRef("c1", n, f"+4850060070{n}") for n in (1, 2)]
            store.begin(SendRecord("p", "k", "d", (), "sending", 1.0), refs)
            outcomes = (_outcome(refs[0].recipient, "accepted", "solo"), _outcome(refs[1].recipient, "accepted", "m2"))
            store.settle(SendRecord("p", "k", "d", (), "done", 1.0, outcomes), refs)
            assert store.record_delivery("c1", "solo", "delivered", None, None, recipient="0500600701") == 1
            assert {r.row: r.state for r in store.rows("c1")} == {1: "delivered", 2: "accepted", 3: "planned"}

    def test_concurrent_sends_are_all_recorded(self) -> None:
        with self._open() as store:
            self._campaign(store, rows=40)

            def work(n: int) -> None:
                ref = [RowRef("c1", n, f"+4850060070{n}")]
                store.begin(SendRecord("p", f"k{n}", "d", (ref[0].recipient,), "sending", 1.0), ref)
                store.settle(
                    SendRecord("p", f"k{n}", "d", (), "done", 1.0, (_outcome(ref[0].recipient, "accepted", f"m{n}"),)),
                    ref,
                )

            threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 41)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert store.counts("c1") == {"accepted": 40}

    def test_data_survives_a_new_handle(self) -> None:
        store = self.store()
        try:
            self._campaign(store)
            store.begin(SendRecord("p", "k", "d", (A,), "sending", 5.0))
            second = self.reopen(store)
            if second is None:
                pytest.skip("this backend has no second handle")
            try:
                record = second.send_record("p", "k")
                assert record is not None and record.state == "sending"
                assert second.counts("c1") == {"planned": 3}
            finally:
                second.close()
        finally:
            store.close()

    # -- observability ------------------------------------------------------------------------

    def test_stats_count_every_campaigns_rows_in_one_aggregate(self) -> None:
        with self._open() as store:
            self._campaign(store, rows=4)
            store.save_campaign(CampaignRecord("empty", "gw2", "outbox", "t", "e.csv", "d2", 0))
            refs = [RowRef("c1", 1, "+48500600701"), RowRef("c1", 2, "+48500600702")]
            store.begin(SendRecord("p", "k", "d", (), "sending", 1.0), refs)
            outcomes = (_outcome(refs[0].recipient, "accepted", "m1"), _outcome(refs[1].recipient, "rejected"))
            store.settle(SendRecord("p", "k", "d", (), "done", 1.0, outcomes), refs)
            store.record_delivery("c1", "m1", "delivered", None, None)
            store.set_rows("c1", [(4, "rejected", "invalid", "bad number")])
            lines = {(s.campaign, s.state): s for s in store.stats()}
            assert set(lines) == {("c1", "delivered"), ("c1", "rejected"), ("c1", "planned"), ("empty", None)}
            assert {state: s.rows for (name, state), s in lines.items() if name == "c1"} == store.counts("c1")
            assert lines["empty", None].rows == 0 and lines["empty", None].gateway == "gw2"
            delivered = lines["c1", "delivered"]
            assert (delivered.gateway, delivered.total, delivered.campaign_state) == ("gw", 4, "planned")
            assert delivered.lag_count == 1 and 0.0 <= delivered.lag_sum < 60.0
            assert lines["c1", "planned"].lag_count == 0 and lines["c1", "planned"].lag_sum == 0.0

    def test_gateway_health_is_published_and_replaced(self) -> None:
        with self._open() as store:
            assert store.gateway_health() == []
            store.save_gateway_health(GatewayHealth("b", "closed", 10.0))
            store.save_gateway_health(GatewayHealth("a", "open", 20.0, 50.0, 1, "HTTP 503", 19.0))
            store.save_gateway_health(GatewayHealth("a", "open", 60.0, 90.0, 2, "timed out", 59.0))
            found = store.gateway_health()
            assert [(h.gateway, h.state, h.since, h.retry_at, h.opened, h.last_error) for h in found] == [
                ("a", "open", 60.0, 90.0, 2, "timed out"),
                ("b", "closed", 10.0, None, 0, None),
            ]
            assert all(h.updated_at > 0 for h in found)

    # -- the journal on this store ------------------------------------------------------------

    def test_the_journal_keeps_its_meaning_on_this_store(self) -> None:
        with self._open() as store:
            journal = Journal.on(store)
            claim = journal.claim("p", "k", "d1", (A,), 10.0)
            assert claim.recorded is None and claim.interrupted_at is None
            assert not journal.interrupted("p", "k")  # being sent by this process
            result = SendResult("p", "k", (Outcome(A, Status.ACCEPTED, "m1"),), None, 1)
            journal.done(result, "d1")
            again = Journal.on(store).claim("p", "k", "d1", (A,), 20.0)
            assert again.recorded is not None and again.recorded.replayed
            assert again.recorded.outcomes == result.outcomes
            with pytest.raises(KeyConflictError):
                Journal.on(store).claim("p", "k", "d2", (A,), 20.0)

    def test_an_abandoned_send_resumes_in_the_next_process(self) -> None:
        with self._open() as store:
            journal = Journal.on(store)
            journal.claim("p", "k", "d1", (A,), 10.0)
            journal.abandon("p", "k")
            later = Journal.on(store)
            assert later.interrupted("p", "k") and later.recorded("p", "k") is None
            claim = later.claim("p", "k", "d1", (A,), 99.0)
            assert claim.interrupted_at == 10.0
