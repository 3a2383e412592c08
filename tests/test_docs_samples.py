"""Every code sample in README.md and docs/*.md runs against the emulators, or says why not.

The rules for authors are in tests/docs_samples.py; the summary line of the run counts what ran.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docs_samples import DSN_LITERAL, Sample, all_samples, documents, samples

from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.plugins import default_registry, emulator_class

PYTHON_DOCS = [p for p in documents() if any(s.lang == "python" for s in samples(p))]
SHELL = [s for s in all_samples() if s.lang != "python" and s.runs]


class Emulators:
    """Each provider's emulator, started on first use; ``outbox`` is the core's."""

    def __init__(self) -> None:
        self.running: dict[str, Any] = {}

    def dsn(self, scheme: str) -> str:
        if scheme not in self.running:
            if scheme == "outbox":
                self.running[scheme] = OutboxEmulator().start()
            else:
                spec = default_registry().provider(scheme).spec
                self.running[scheme] = emulator_class(spec)().start()
        return str(self.running[scheme].dsn())

    def substitute(self, code: str) -> str:
        """``code`` with every ``SCHEME://...@default?opts`` literal aimed at SCHEME's emulator."""

        def replace(match: re.Match[str]) -> str:
            dsn = self.dsn(match["scheme"])
            have = {pair.partition("=")[0] for pair in dsn.partition("?")[2].split("&") if pair}
            extra = [p for p in (match["query"] or "").split("&") if p and p.partition("=")[0] not in have]
            if extra:
                dsn += ("&" if "?" in dsn else "?") + "&".join(extra)
            return repr(dsn)

        return DSN_LITERAL.sub(replace, code)

    def stop(self) -> None:
        for emulator in self.running.values():
            emulator.stop()


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    running = Emulators()
    yield running
    running.stop()


def test_there_are_samples_and_every_skip_says_why() -> None:
    every = all_samples()
    assert sum(s.runs for s in every if s.lang == "python") >= 8 and SHELL
    for sample in every:
        if sample.lang == "python" and not sample.runs:
            assert sample.not_run, f"{sample.id}: a not-run marker needs a reason"


@pytest.mark.parametrize("path", PYTHON_DOCS, ids=lambda p: p.name)
def test_python_samples_run(path: Path, emulators: Emulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSGATE_DSN", emulators.dsn("outbox"))
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for sample in samples(path):
        if sample.lang != "python" or not sample.runs:
            continue
        code = compile(emulators.substitute(sample.code), sample.id, "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            pytest.fail(f"{sample.id}: {type(exc).__name__}: {exc}")


def _commands(sample: Sample) -> list[str]:
    lines = sample.code.replace("\\\n", " ").splitlines()
    commands = [line.strip().removeprefix("$ ") for line in lines]
    return [c for c in commands if c and not c.startswith("#")]


@pytest.mark.parametrize("sample", SHELL, ids=lambda s: s.id)
def test_shell_samples_run(sample: Sample, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    background: list[subprocess.Popen[str]] = []
    try:
        for command in _commands(sample):
            words = shlex.split(command, comments=True)
            if words[:2] == ["smsgate", "emulate"]:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "smsgate", *words[1:]],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                background.append(proc)
                assert proc.stdout is not None
                env["DSN"] = proc.stdout.readline().strip()
                continue
            done = subprocess.run(
                ["bash", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{sample.id}: {command}\n{done.stdout}{done.stderr}"
    finally:
        for proc in background:
            proc.terminate()
            proc.wait(timeout=10)


def test_the_provider_guide_builds_a_working_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """docs/writing-a-provider.md walks through the plugin `smsgate new-plugin` generates (its
    excerpts are checked verbatim by tests/test_guide_excerpts.py): generated, it sends over
    loopback through its own emulator."""
    import importlib

    import smsgate
    from smsgate import scaffold
    from smsgate.plugins import Registry

    scaffold.write("guideacme", tmp_path / "plugin")
    monkeypatch.syspath_prepend(str(tmp_path / "plugin" / "src"))
    module = importlib.import_module("smsgate_guideacme")
    emulator_module = importlib.import_module("smsgate_guideacme.emulator")
    registry = Registry(load_entrypoints=False)
    registry.register(module)
    with emulator_module.GuideacmeEmulator() as emulator, smsgate.connect(emulator.dsn(), registry=registry) as gw:
        result = gw.send(smsgate.Message(["+48500600700", "+48500600701"], "Hello from the guide"))
    assert result.ok and [o.message_id for o in result.outcomes] == ["ac1", "ac2"]
    for name in [m for m in sys.modules if m.startswith("smsgate_guideacme")]:
        monkeypatch.delitem(sys.modules, name)
