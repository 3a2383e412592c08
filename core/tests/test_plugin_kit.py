"""The plugin kit: the scaffold (``smsgate new-plugin``), ``providers --check``, hook-spec
version compatibility, and the emulator helpers the contract suite relies on."""

from __future__ import annotations

import http.client
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from smsgate import cli, hookimpl, hookspecs, scaffold
from smsgate.builtin import outbox
from smsgate.cli_plugins import self_checks
from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest, Fault
from smsgate.errors import PluginError
from smsgate.plugins import Provider, Registry

EXAMPLE = Path(__file__).parent / "example_plugin"


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text("utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)
    }


def test_the_example_plugin_is_the_scaffold_rendered() -> None:
    assert scaffold.render("acme") == _files(EXAMPLE), (
        "core/tests/example_plugin and smsgate/scaffold/plugin differ: change both (the template is "
        "the example with its name as the placeholder)"
    )


def test_render_renames_everything() -> None:
    files = scaffold.render("bigsms")
    assert "src/smsgate_bigsms/emulator.py" in files
    text = "\n".join(files.values())
    assert "acme" not in text.lower()
    assert "class BigsmsEmulator(Emulator)" in files["src/smsgate_bigsms/emulator.py"]
    assert 'bigsms = "smsgate_bigsms"' in files["pyproject.toml"]


@pytest.mark.parametrize("bad", ["Acme", "1sms", "my-gw", "my_gw", "class", ""])
def test_new_plugin_refuses_a_bad_name(bad: str, tmp_path: Path) -> None:
    out = io.StringIO()
    assert cli.main(["new-plugin", bad, "--dir", str(tmp_path / "x")], out) == 2
    assert "cannot name a provider" in out.getvalue()


def test_new_plugin_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    out = io.StringIO()
    assert cli.main(["new-plugin", "demo", "--dir", str(tmp_path)], out) == 2
    assert "not empty" in out.getvalue()


def test_new_plugin_then_its_suite_passes_in_process(tmp_path: Path) -> None:
    out = io.StringIO()
    assert cli.main(["new-plugin", "demo", "--dir", str(tmp_path / "smsgate-demo")], out) == 0
    root = tmp_path / "smsgate-demo"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0 and "skipped" not in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]


@pytest.mark.skipif(not os.environ.get("SMSGATE_SLOW"), reason="slow (about 70 s): nox -s plugin_kit runs it")
def test_new_plugin_passes_from_a_fresh_venv_with_only_the_core(tmp_path: Path) -> None:
    """``smsgate new-plugin demo``, then a fresh venv with only the core and the generated
    project installed (pip, from the configured indexes: no other network), then its tests."""
    core = Path(__file__).parents[1]
    assert cli.main(["new-plugin", "demo", "--dir", str(tmp_path / "smsgate-demo")], io.StringIO()) == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    install = [str(python), "-m", "pip", "install", "-q", str(core), f"{tmp_path / 'smsgate-demo'}[test]"]
    subprocess.run(install, check=True, timeout=900, capture_output=True)
    run = subprocess.run(
        [str(python), "-m", "pytest", "-q"],
        cwd=tmp_path / "smsgate-demo",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "skipped" not in run.stdout


# -- hook-spec versions ---------------------------------------------------------------------


def _plugin_declaring(version: object) -> types.ModuleType:
    module = types.ModuleType("smsgate_old")
    module.SMSGATE_HOOKS = version  # type: ignore[attr-defined]
    module.provider_spec = hookimpl(outbox.provider_spec)  # type: ignore[attr-defined]
    return module


def test_a_plugin_for_an_older_hook_spec_is_told_so() -> None:
    registry = Registry(load_entrypoints=False, env={})
    with pytest.raises(PluginError, match=r"hook spec version 0, which this smsgate no longer serves"):
        registry.register(_plugin_declaring(hookspecs.MIN_HOOKSPEC_VERSION - 1))


def test_a_plugin_for_a_newer_hook_spec_asks_for_a_newer_smsgate() -> None:
    registry = Registry(load_entrypoints=False, env={})
    with pytest.raises(PluginError, match=r"upgrade smsgate"):
        registry.register(_plugin_declaring(hookspecs.HOOKSPEC_VERSION + 1))


def test_a_bad_declaration_is_refused_and_none_is_current() -> None:
    assert "must be an int" in (hookspecs.incompatibility(_plugin_declaring("1")) or "")
    assert hookspecs.incompatibility(outbox) is None
    assert hookspecs.incompatibility(_plugin_declaring(hookspecs.HOOKSPEC_VERSION)) is None


# -- providers --check ----------------------------------------------------------------------


def test_providers_check_passes_on_the_outbox_and_names_what_fails() -> None:
    spec = outbox.provider_spec()
    assert all(c.ok for c in self_checks(Provider(spec, outbox))), self_checks(Provider(spec, outbox))
    import attrs

    broken = attrs.evolve(
        spec,
        emulator="nowhere:Nothing",
        capabilities=attrs.evolve(spec.capabilities, operations=spec.capabilities.operations | {"quote"}),
    )
    checks = {c.name: c for c in self_checks(Provider(broken, outbox))}
    assert not checks["emulator"].ok and "cannot load emulator" in checks["emulator"].detail
    assert not checks["handlers"].ok and "quote" in checks["handlers"].detail


def test_providers_check_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = cli.main(["providers", "--check"], out)
    assert "hook-version" in out.getvalue() and "outbox" in out.getvalue()
    assert code in (0, 1)
    out = io.StringIO()
    cli.main(["providers", "--check", "--json"], out)
    assert '"outbox"' in out.getvalue() and '"ok"' in out.getvalue()


# -- emulator helpers -----------------------------------------------------------------------


class _Keyed(Emulator):
    name = "keyed"
    dedup = "key"

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        key = request.query_value("key")
        with self.lock:
            seen = self.replay(key)
            if seen is not None:
                return seen
            self.take(request.query_value("to") or "", key)
            return self.remember(key, EmulatorReply.json({"ok": True}, headers={"X-Id": "1"}))


def _get(emu: Emulator, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_take_counts_per_recipient_and_key_and_replay_deduplicates() -> None:
    with _Keyed() as emu:
        for _ in range(3):
            status, headers, _ = _get(emu, "/send?to=%2B48500600700&key=k1")
            assert status == 200 and headers["X-Id"] == "1"
        _get(emu, "/send?to=48500600700&key=k2")
        assert emu.taken[("+48500600700", "k1")] == 1
        assert emu.taken_for("+48 500 600 700") == 2
        emu.reset_log()
        assert emu.taken_for("+48500600700") == 0


def test_canned_replies_with_headers_and_gateway_format_errors() -> None:
    with _Keyed() as emu:
        emu.answer(EmulatorReply.text("slow down", 429, headers={"Retry-After": "7"}))
        status, headers, body = _get(emu, "/send?to=1&key=a")
        assert (status, headers["Retry-After"], body) == (429, "7", b"slow down")
        assert emu.taken_for("1") == 0  # not processed
        emu.answer(EmulatorReply.text("lost", 502), processed=True)
        assert _get(emu, "/send?to=1&key=b")[0] == 502 and emu.taken_for("1") == 1
        emu.inject(Fault.THROTTLE, retry_after=2.5)
        status, headers, _ = _get(emu, "/send")
        assert status == 429 and headers["Retry-After"] == "2.5"
        with pytest.raises(ValueError):
            emu.inject(Fault.REPLY)
    reply = EmulatorReply.json({}, 503).with_headers({"Retry-After": "3"}, X_Trace="t")
    assert reply.header("retry-after") == "3" and reply.header("X-Trace") == "t"
