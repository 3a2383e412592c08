"""Issue 17, the rest: app plugins (pluggy ``on_delivery_report``/``on_inbound``) called by the
receiver after the event is stored, a failing one losing nothing; the inbound tables inside the
store's migrations (an old file opens and migrates); pull cursors; ``Capabilities.inbound``."""

from __future__ import annotations

import io
import json
import sqlite3
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_kit import dsn_for

from smsgate import hookimpl, hookspecs, serve
from smsgate.builtin import outbox
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.gateway import Gateway, connect
from smsgate.inbound import InboundMessage, MemoryInboundStore, SqliteInboundStore
from smsgate.models import DeliveryReport, InboxQuery
from smsgate.plugins import Registry
from smsgate.spec import Capabilities
from smsgate.store import open_store
from smsgate.store.sqlite import MIGRATIONS, SqliteStore


class App:
    """A small app plugin: records what the hooks saw; ``fail`` makes them raise."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str]] = []
        self.messages: list[tuple[str, str, str]] = []
        self.fail = False
        self.store: Any = None
        self.stored_first: list[bool] = []

    @hookimpl
    def on_delivery_report(self, report: DeliveryReport, gateway: str) -> None:
        self.stored_first.append(bool(self.store.reports(message_id=report.message_id)))
        if self.fail:
            raise RuntimeError("ticket system down")
        self.reports.append((gateway, report.message_id))

    @hookimpl
    def on_inbound(self, message: InboundMessage) -> None:  # a subset of the arguments is enough
        self.stored_first.append(bool(self.store.inbound(sender=message.sender)))
        if self.fail:
            raise RuntimeError("ticket system down")
        self.messages.append((message.gateway or "", message.sender, message.text))


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture
def app_gateway(app: App) -> Iterator[Gateway]:
    registry = Registry(load_entrypoints=False)
    registry.register(outbox)
    registry.add_extension(app)
    with OutboxEmulator() as emulator, connect(dsn_for(emulator), registry=registry) as gateway:
        yield gateway


def _post(app: serve.Receiver, path: str, document: Any) -> str:
    body = json.dumps(document).encode()
    seen: list[str] = []
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
    }
    b"".join(app(env, lambda status, headers: seen.append(status)))
    return seen[0]


def test_hook_on_delivery_report(app: App, app_gateway: Gateway) -> None:
    store = MemoryInboundStore()
    app.store = store
    receiver = serve.Receiver([serve.Route("shop", app_gateway)], store)
    report = {"id": "ob1", "to": "+48500600700", "state": "delivered"}
    app.fail = True
    assert _post(receiver, "/shop/dlr", report).startswith("500")  # the hook failed: resend, please
    assert [r.message_id for r in store.reports()] == ["ob1"] and app.reports == []  # kept, not lost
    app.fail = False
    assert _post(receiver, "/shop/dlr", report) == "200 OK"  # the resend runs the hook again
    assert _post(receiver, "/shop/dlr", report) == "200 OK"  # handled: not again
    assert app.reports == [("shop", "ob1")]
    assert all(app.stored_first)  # every call came after the report was in the store


def test_hook_on_inbound(app: App, app_gateway: Gateway, tmp_path: Path) -> None:
    campaign_store = open_store(tmp_path / "s.db")
    store = SqliteInboundStore(store=campaign_store)
    app.store = store
    receiver = serve.Receiver([serve.Route("shop", app_gateway)], store)
    mo = {"from": "+48500600700", "to": "+48100200300", "text": "STOP please", "id": "mo1"}
    app.fail = True
    assert _post(receiver, "/shop/inbound", mo).startswith("500")
    # stored (and the opt-out applied) before the hook ran: a failing app loses nothing
    assert [m.text for m in store.inbound()] == ["STOP please"]
    assert [s.number for s in store.suppressions()] == ["+48500600700"]
    app.fail = False
    assert _post(receiver, "/shop/inbound", mo) == "200 OK"
    assert _post(receiver, "/shop/inbound", mo) == "200 OK"
    assert app.messages == [("shop", "+48500600700", "STOP please")]
    assert all(app.stored_first)
    store.close()
    campaign_store.close()


def test_app_hooks_are_notifications_not_provider_hooks() -> None:
    for name in hookspecs.APP_HOOKS:
        assert not getattr(hookspecs, name).smsgate_spec.get("firstresult")
    assert "on_inbound" in hookspecs.HOOKSPEC_CHANGES[hookspecs.HOOKSPEC_VERSION]


# -- the store's migrations ------------------------------------------------------------------------

#: The receiver's own tables as the code before this migration created them (inbound.py, v1).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound_v1_reports (gateway TEXT NOT NULL, ident TEXT NOT NULL,
    message_id TEXT NOT NULL, recipient TEXT, status TEXT NOT NULL, code TEXT, reason TEXT, at REAL,
    received_at REAL NOT NULL, handled INTEGER NOT NULL DEFAULT 0, rows INTEGER NOT NULL DEFAULT 0,
    raw TEXT NOT NULL, PRIMARY KEY (gateway, ident)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbound_v1_reports_id ON inbound_v1_reports (message_id);
CREATE TABLE IF NOT EXISTS inbound_v1_messages (gateway TEXT NOT NULL, ident TEXT NOT NULL, message_id TEXT,
    sender TEXT NOT NULL, sender_key TEXT NOT NULL, recipient TEXT, text TEXT NOT NULL, opt_out INTEGER NOT NULL,
    at REAL, received_at REAL NOT NULL, handled INTEGER NOT NULL DEFAULT 0, raw TEXT NOT NULL,
    PRIMARY KEY (gateway, ident)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbound_v1_messages_sender ON inbound_v1_messages (sender_key);
CREATE TABLE IF NOT EXISTS inbound_v1_suppressed (number_key TEXT PRIMARY KEY, number TEXT NOT NULL,
    reason TEXT NOT NULL, gateway TEXT, at REAL NOT NULL) WITHOUT ROWID
"""


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_the_inbound_tables_are_a_store_migration(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "new.db")
    assert store.version == len(MIGRATIONS)
    assert {"inbound_v1_reports", "inbound_v1_messages", "inbound_v1_suppressed", "inbound_v1_cursors"} <= _tables(
        tmp_path / "new.db"
    )
    store.close()
    # a path alone: the file is migrated by the store (the receiver creates no table itself)
    alone = SqliteInboundStore(tmp_path / "alone.db")
    alone.save_cursor("gw", "42")
    assert alone.cursor("gw") == "42" and alone.cursor("other") is None
    alone.close()
    assert SqliteStore(tmp_path / "alone.db").version == len(MIGRATIONS)


def test_a_store_file_written_by_the_old_code_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the campaign store at version 1, the receiver's tables beside it
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version=1")
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO inbound_v1_suppressed (number_key, number, reason, gateway, at) "
            "VALUES ('48500600700', '+48500600700', 'keyword ''stop''', 'gw', 1.0)"
        )
        db.execute(
            "INSERT INTO inbound_v1_messages VALUES ('gw', 'id:mo1', 'mo1', '+48500600700', '48500600700', NULL, "
            "'STOP', 0, NULL, 1.0, 1, '{}')"
        )
    store = open_store(path)
    assert isinstance(store, SqliteStore) and store.version == len(MIGRATIONS)
    inbound = SqliteInboundStore(store=store)
    assert [s.number for s in inbound.suppressions()] == ["+48500600700"]
    old = InboundMessage("+48500600700", "STOP", message_id="mo1", gateway="gw")
    assert inbound.record_inbound(old) is False  # recognised from the old file: handled already
    inbound.save_cursor("gw", "2014-10-21 11:18:03")
    assert inbound.cursor("gw") == "2014-10-21 11:18:03"
    inbound.close()
    store.close()


# -- capabilities ---------------------------------------------------------------------------------


def test_capabilities_inbound() -> None:
    assert Capabilities().inbound == frozenset()
    assert Capabilities(inbound=frozenset({"push"})).inbound == {"push"}
    # "pull" follows from the handler table (the inbox operation)
    assert Capabilities(operations=frozenset({"send", "inbox"})).inbound == {"pull"}
    with pytest.raises(ValueError, match="unknown"):
        Capabilities(inbound=frozenset({"carrier pigeon"}))
    assert outbox.provider_spec().capabilities.inbound == {"push"}


def test_a_gateway_without_a_pull_says_so(gateway: Gateway) -> None:
    from smsgate.errors import ValidationError

    with pytest.raises(ValidationError, match="no inbox operation"):
        gateway.fetch_inbound()
    assert InboxQuery().since is None


def test_an_app_plugin_without_hooks_changes_nothing(gateway: Gateway) -> None:
    assert not gateway.hooks.listens("on_inbound") and not gateway.hooks.listens("on_delivery_report")
    module = types.ModuleType("smsgate_app_example")
    module.on_inbound = hookimpl(lambda message: None)  # type: ignore[attr-defined]
    registry = Registry(load_entrypoints=False)
    registry.register(outbox)
    registry.add_extension(module)
    assert registry.hooks("outbox").listens("on_inbound")
