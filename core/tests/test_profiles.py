"""Named gateways in smsgate.toml: finding the file, ${ENV} secrets, connect(name), routers."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_kit import dsn_for

from smsgate import Message, connect, profiles
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.errors import ConfigurationError
from smsgate.plugins import Registry
from smsgate.profiles import ConfigFile


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_is_found_explicitly_then_by_env_then_here_then_in_the_user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "xdg" / "smsgate"
    user.mkdir(parents=True)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert profiles.find(env=env) is None
    in_user = _write(user / "smsgate.toml", "")
    assert profiles.find(env=env) == in_user
    in_here = _write(here / "smsgate.toml", "")
    assert profiles.find(env=env) == in_here
    by_env = _write(tmp_path / "env.toml", "")
    assert profiles.find(env={**env, "SMSGATE_CONFIG": str(by_env)}) == by_env
    given = _write(tmp_path / "given.toml", "")
    assert profiles.find(given, env={**env, "SMSGATE_CONFIG": str(by_env)}) == given
    with pytest.raises(ConfigurationError, match="not found"):
        profiles.find(tmp_path / "missing.toml", env=env)


def test_secrets_come_from_the_environment_and_are_never_shown(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.toml",
        '[gateways.shop]\ndsn = "serwersms://:${TOKEN}@default?sender=Shop"\n'
        '[gateways.plain]\ndsn = "bulksms://user:hunter2@default"\n',
    )
    config = ConfigFile.load(path, env={"TOKEN": "s3cret"})
    assert config.dsn("shop") == "serwersms://:s3cret@default?sender=Shop"
    assert "s3cret" not in repr(config) and "hunter2" not in repr(config)
    assert config.shown_dsn("plain") == "bulksms://user:***@default"
    with pytest.raises(ConfigurationError, match="TOKEN is not set") as caught:
        ConfigFile.load(path, env={}).dsn("shop")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigurationError, match=r"no gateway named 'nope'.*known: plain, shop"):
        config.dsn("nope")
    assert path.read_text().count("${TOKEN}") == 1  # never written back


def test_bad_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        ConfigFile.load(_write(tmp_path / "a.toml", "[gateways"))
    with pytest.raises(ConfigurationError, match="needs dsn"):
        ConfigFile.load(_write(tmp_path / "b.toml", "[gateways.x]\nhost = 1\n"))
    with pytest.raises(ConfigurationError, match="both a gateway and a router"):
        ConfigFile.load(_write(tmp_path / "c.toml", '[gateways.x]\ndsn="a://b"\n[routers.x]\ndefault=["x"]\n'))


def test_connect_takes_a_configured_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: OutboxEmulator, registry: Registry
) -> None:
    dsn = dsn_for(emulator).replace(emulator.password, "${OUTBOX_SECRET}")
    path = _write(tmp_path / "smsgate.toml", f'[gateways.local]\ndsn = "{dsn}"\n')
    monkeypatch.setenv("SMSGATE_CONFIG", str(path))
    monkeypatch.setenv("OUTBOX_SECRET", emulator.password)
    with connect("local", registry=registry) as gateway:
        assert gateway.send(Message("+48500600700", "by name")).ok
    assert len(emulator.messages) == 1
    with pytest.raises(ConfigurationError, match="no gateway named 'other'"):
        connect("other", registry=registry)


def test_routers_are_exposed_for_the_router_module(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.toml",
        '[gateways.a]\ndsn = "outbox://u:${S}@127.0.0.1:1?tls=false"\n[routers.main]\ndefault = ["a"]\n',
    )
    config = ConfigFile.load(path, env={"S": "x"})
    assert dict(config.routers) == {"main": {"default": ["a"]}}
    assert config.names() == ["a", "main"]
    assert config.as_mapping()["gateways"]["a"]["dsn"] == "outbox://u:x@127.0.0.1:1?tls=false"


def test_connect_returns_a_router_for_a_router_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: OutboxEmulator, registry: Registry
) -> None:
    path = _write(
        tmp_path / "smsgate.toml", f'[gateways.a]\ndsn = "{dsn_for(emulator)}"\n[routers.main]\ndefault = ["a"]\n'
    )
    monkeypatch.setenv("SMSGATE_CONFIG", str(path))
    with connect("main", registry=registry) as router:
        assert router.send(Message("+48500600700", "routed")).ok
    assert len(emulator.messages) == 1
