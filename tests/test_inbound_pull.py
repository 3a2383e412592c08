"""Issue 17, pulls and signatures over real loopback HTTP: ``smsgate inbound fetch`` end to end
against every emulator that keeps incoming messages (stored once, re-runs store nothing, the
cursor continues, STOP suppresses the next send), a forged SMSC report answered 403 by
``smsgate serve`` with nothing stored, and the capability column of ``smsgate providers``."""

from __future__ import annotations

import http.client
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import smsgate
from smsgate import cli, serve
from smsgate.inbound import SqliteInboundStore
from smsgate.store import open_store
from smsgate_bulksms.emulator import BulkSmsEmulator
from smsgate_serwersms.emulator import SerwerSmsEmulator
from smsgate_smsc.dlr import signature
from smsgate_smsc.emulator import SmscEmulator

PULLS: dict[str, type[Any]] = {"bulksms": BulkSmsEmulator, "serwersms": SerwerSmsEmulator, "smsc": SmscEmulator}


@pytest.fixture(params=sorted(PULLS))
def emulator(request: pytest.FixtureRequest) -> Iterator[Any]:
    with PULLS[request.param]() as emulator:
        yield emulator


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def _fetch(target: str, store: Path) -> dict[str, Any]:
    code, text = _cli("inbound", "fetch", target, "--store", str(store), "--json")
    assert code == 0, text
    document: dict[str, Any] = json.loads(text)
    return document


def test_inbound_fetch_end_to_end(emulator: Any, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    emulator.receive("+447700900123", "Hello, is the shop open?")
    emulator.receive("+447700900124", "STOP")
    first = _fetch(emulator.dsn(), store)
    assert (first["fetched"], first["new"]) == (2, 2)
    assert [(m["sender"], m["text"]) for m in first["messages"]] == [
        ("+447700900123", "Hello, is the shop open?"),
        ("+447700900124", "STOP"),
    ]
    again = _fetch(emulator.dsn(), store)
    assert again["new"] == 0  # the same messages (if the gateway repeats them) are not stored twice
    later = time.time() + 60
    emulator.clock = lambda: later  # a minute on: SerwerSMS's cursor is a time, to the second
    emulator.receive("+447700900125", "Thanks!")
    third = _fetch(emulator.dsn(), store)
    assert third["new"] == 1 and third["messages"][-1]["text"] == "Thanks!"
    assert third["cursor"] and third["cursor"] != first["cursor"]  # continued where the last stopped
    code, listed = _cli("inbound", "list", "--store", str(store), "--json")
    assert code == 0
    rows = json.loads(listed)
    assert sorted(r["text"] for r in rows) == ["Hello, is the shop open?", "STOP", "Thanks!"]
    assert {r["gateway"] for r in rows} == {emulator.name}
    # STOP by pull puts the sender on the list, and the next send skips them
    _, suppressed = _cli("suppress", "list", "--store", str(store), "--json")
    assert [s["number"] for s in json.loads(suppressed)] == ["+447700900124"]
    campaign_store = open_store(store)
    inbound = SqliteInboundStore(store=campaign_store)
    with smsgate.connect(emulator.dsn()) as gateway:
        gateway.suppressed = inbound.suppressed
        result = gateway.send(smsgate.Message(["+447700900124"], "Sale today"))
    assert [(o.status.value, o.code) for o in result.outcomes] == [("rejected", "suppressed")]
    assert emulator.taken_for("+447700900124") == 0
    inbound.close()
    campaign_store.close()


def test_inbound_fetch_by_gateway_name_and_readable_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with BulkSmsEmulator() as emulator:
        (tmp_path / "smsgate.toml").write_text(f'[gateways.replies]\ndsn = "{emulator.dsn()}"\n')
        monkeypatch.chdir(tmp_path)
        emulator.receive("+447700900123", "two\nlines")
        code, text = _cli("inbound", "fetch", "replies", "--store", str(tmp_path / "s.db"))
        assert code == 0
        assert "+447700900123" in text and "two lines" in text and "replies: 1 fetched, 1 new" in text
        code, text = _cli("inbound", "fetch", "replies", "--store", str(tmp_path / "s.db"))
        assert "replies: 0 fetched, 0 new (cursor 19)" in text


def test_a_gateway_without_a_pull_is_refused_by_the_cli(tmp_path: Path) -> None:
    code, text = _cli("inbound", "fetch", "octopush://login:key@default", "--store", str(tmp_path / "s.db"), "--json")
    assert code != 0 and "no inbox operation" in text


def test_providers_show_how_incoming_messages_arrive() -> None:
    code, text = _cli("providers", "--json")
    assert code == 0
    caps = {p["name"]: p["capabilities"] for p in json.loads(text)["providers"]}
    assert sorted(caps["bulksms"]["inbound"]) == ["pull", "push"]
    assert sorted(caps["smsc"]["inbound"]) == sorted(caps["serwersms"]["inbound"]) == ["pull", "push"]
    assert caps["octopush"]["inbound"] == ["push"] and caps["routesms"]["inbound"] == []
    _, text = _cli("providers")
    assert "inbound push+pull" in text


# -- a forged SMSC delivery report: 403, nothing stored ------------------------------------------


def test_a_forged_smsc_report_gets_403_and_nothing_is_stored(tmp_path: Path) -> None:
    campaign_store = open_store(tmp_path / "s.db")
    inbound = SqliteInboundStore(store=campaign_store)
    gateway = smsgate.connect("smsc://login:password@default?callback_check=true")
    receiver = serve.Receiver([serve.Route("smsc", gateway)], inbound)
    server = serve.start(receiver, timeout=2)

    def post(fields: dict[str, str]) -> int:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            conn.request("POST", "/smsc/dlr", body=urlencode(fields), headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    try:
        fields = {"id": "17", "phone": "79991234567", "status": "1", "err": "0"}
        assert post({**fields, "sha1": signature(fields, "not the password")}) == 403
        assert post({**fields, "md5": signature(fields, "not the password", "md5")}) == 403
        assert post({**fields, "sha1": "0" * 40}) == 403
        assert post(fields) == 403  # no checksum at all
        assert inbound.reports() == [] and inbound.inbound() == []
        assert post({**fields, "md5": signature(fields, "password", "md5")}) == 200
        assert post({**fields, "sha1": signature(fields, "password")}) == 200  # the same report: once
        assert [(r.message_id, r.status) for r in inbound.reports()] == [("17", "delivered")]
    finally:
        server.stop()
        gateway.close()
        inbound.close()
        campaign_store.close()
