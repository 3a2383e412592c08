"""The receiver on a PostgreSQL store, end to end over real loopback HTTP (issue 17 on the
Celery scale-out's store): a campaign run against the bundled BulkSMS emulator into PostgreSQL,
``smsgate serve --store postgresql://...`` receiving the gateway's delivery report for one of
its rows (``campaign status`` then counts it delivered) and a STOP reply (the next campaign's
send to that number is refused ``suppressed``, nothing sent to it).

Needs psycopg and PostgreSQL at ``$SMSGATE_TEST_POSTGRES`` (skipped with a line naming it when
it does not answer, failed on CI); a fresh schema per test.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from smsgate.cli import EXIT_REJECTED, main
from smsgate.store import open_store
from smsgate.testing import services

TOKEN = "pg-s3cret-token"
ANN, BOB = "+447700900001", "+447700900002"


@pytest.fixture
def store_url() -> Iterator[str]:
    # core alone (nox -s tests_core) runs without the postgres extra: its absence skips, even on CI
    pytest.importorskip("psycopg", reason="psycopg is not installed (python -m pip install 'smsgate[postgres]')")
    base = services.require("postgres")
    with services.scratch_schema(base) as schema:
        yield f"{base}?schema={schema}"


def _cli(*args: str, code: int = 0) -> str:
    out = io.StringIO()
    previous, sys.stdout = sys.stdout, out
    try:
        assert main(list(args)) == code, out.getvalue()
    finally:
        sys.stdout = previous
    return out.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``smsgate serve`` in its own process (python -m smsgate), on the PostgreSQL store."""

    def __init__(self, store_url: str) -> None:
        self.port = _free_port()
        command = [sys.executable, "-m", "smsgate", "serve", "--gateway", "bulk=bulksms://user:pw@default"]
        command += ["--token", "bulk=env:TOK", "--port", str(self.port), "--store", store_url]
        env = {k: v for k, v in os.environ.items() if k != "SMSGATE_STORE"}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "TOK": TOKEN}
        )
        assert self.proc.stdout is not None
        self.banner = [self.proc.stdout.readline(), self.proc.stdout.readline()]
        assert "listening" in self.banner[-1], self.banner

    def get(self, path: str, **query: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", f"/bulk/{TOKEN}/{path}?{urlencode(query)}")
            return conn.getresponse().status
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_serve_on_postgresql_feeds_campaign_counts_and_the_suppression_list(store_url: str, tmp_path: Path) -> None:
    from smsgate_bulksms.emulator import BulkSmsEmulator

    source = tmp_path / "people.csv"
    source.write_text(f"phone,name\n{ANN},Ann\n{BOB},Bob\n", encoding="utf-8")
    with BulkSmsEmulator() as emulator:
        run = ["campaign", "run", str(source), "--gateway", emulator.dsn(), "--text", "Hi there", "--yes"]
        _cli(*run, "--name", "spring", "--store", store_url)
        store = open_store(store_url)
        try:
            ids = {r.recipient: r.gateway_id for r in store.rows("spring")}
        finally:
            store.close()
        assert all(ids.values()) and len(set(ids.values())) == 1, ids  # one batch: BulkSMS gives it one id

        serve = Serve(store_url)
        try:
            assert "(store PostgresStore 127.0.0.1" in serve.banner[-1] or "schema=smsgate_test_" in serve.banner[-1]
            # BulkSMS's delivery-report push for Ann's message (status 11: delivered), twice
            for _ in range(2):
                assert serve.get("dlr", msisdn=ANN[1:], batch_id=str(ids[ANN]), status="11") == 200
            # Bob answers STOP
            assert serve.get("inbound", msisdn="447700900000", sender=BOB[1:], message="STOP", msg_id="77") == 200
        finally:
            serve.stop()

        status = json.loads(_cli("campaign", "status", "spring", "--store", store_url, "--json"))
        assert status["counts"] == {"delivered": 1, "accepted": 1}
        listed = json.loads(_cli("suppress", "list", "--json", "--store", store_url))
        assert [(s["number"], s["gateway"]) for s in listed] == [(BOB, "bulk")]
        messages = json.loads(_cli("inbound", "list", "--json", "--store", store_url))
        assert [(m["sender"], m["text"], m["gateway"]) for m in messages] == [(BOB, "STOP", "bulk")]

        sent_before = len(emulator.messages)
        _cli(*run, "--name", "summer", "--store", store_url, code=EXIT_REJECTED)  # Bob's row is refused
        assert [m.msisdn.lstrip("+") for m in emulator.messages[sent_before:]] == [ANN[1:]]  # Ann only
        store = open_store(store_url)
        try:
            rows = {r.recipient: r for r in store.rows("summer")}
        finally:
            store.close()
    assert (rows[BOB].state, rows[BOB].code) == ("rejected", "suppressed")
    assert rows[ANN].state == "accepted"


def test_suppress_and_inbound_commands_on_postgresql(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cli("suppress", "add", "+48500600700", "0048 500 600 701", "--store", store_url)
    listing = tmp_path / "optouts.csv"
    listing.write_text("number\n+48500600702\n+48500600700\n", encoding="utf-8")
    assert "1 added from 2 numbers" in _cli("suppress", "import", str(listing), "--store", store_url)
    assert "1 removed" in _cli("suppress", "remove", "48500600701", "--store", store_url)
    shown = json.loads(_cli("suppress", "list", "--json", "--store", store_url))
    assert [s["number"] for s in shown] == ["+48500600700", "+48500600702"]
    # $SMSGATE_STORE names the PostgreSQL store when --store is not given
    monkeypatch.setenv("SMSGATE_STORE", store_url)
    assert json.loads(_cli("inbound", "list", "--json")) == []
    assert "+48500600702" in _cli("suppress", "list")
