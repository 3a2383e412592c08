"""Mutation tests of the contract suite: the example plugin passes it, and each deliberately
broken variant of it fails with a message that names the broken rule.

The example plugin (``core/tests/example_plugin``, an invented JSON gateway, "Acme") is the
reference for plugin authors and what ``smsgate new-plugin`` generates. Each variant changes one
thing in a copy of it; its contract suite runs in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

EXAMPLE = Path(__file__).parent / "example_plugin"


@attrs.frozen
class Mutant:
    name: str
    path: str  # relative to the example plugin
    old: str
    new: str
    rule: str  # a fragment of the failure message that names the broken rule


MUTANTS = (
    Mutant(
        "http-500-classified-retry",
        "src/smsgate_acme/codes.py",
        'Code("internal", "the gateway failed; it may have taken the message", Verdict.AMBIGUOUS)',
        'Code("internal", "the gateway failed; it may have taken the message", Verdict.RETRY)',
        "an HTTP 5xx may have been taken",
    ),
    Mutant(
        "401-classified-retry",
        "src/smsgate_acme/codes.py",
        "Verdict.FATAL, error=AuthenticationError)",
        "Verdict.RETRY, error=AuthenticationError)",
        "bad credentials are fatal",
    ),
    Mutant(
        "429-classified-fatal",
        "src/smsgate_acme/codes.py",
        "Verdict.THROTTLED, error=RateLimitedError)",
        "Verdict.FATAL, error=RateLimitedError)",
        "throttling is `throttled`",
    ),
    Mutant(
        "429-classified-plain-retry",
        "src/smsgate_acme/codes.py",
        "Verdict.THROTTLED, error=RateLimitedError)",
        "Verdict.RETRY, error=RateLimitedError)",
        "throttling is `throttled`",
    ),
    Mutant(
        "retry-after-dropped",
        "src/smsgate_acme/reply.py",
        "retry_after=response.retry_after()",
        "retry_after=None",
        "retry_after is passed on",
    ),
    Mutant(
        "classify-drops-retry-after",
        "src/smsgate_acme/codes.py",
        "return TABLE.classify(failure)",
        "found = TABLE.classify(failure)\n    return None if found is None else Classification(found.verdict)",
        "retry_after is passed on",
    ),
    Mutant(
        "idempotency-key-not-sent",
        "src/smsgate_acme/request.py",
        'headers = {**auth(settings), "Idempotency-Key": batch.dedup_key}',
        "headers = auth(settings)",
        "never sent twice",
    ),
    Mutant(
        "fresh-random-key-per-build",
        "src/smsgate_acme/request.py",
        '"Idempotency-Key": batch.dedup_key}',
        '"Idempotency-Key": __import__("uuid").uuid4().hex}',
        "the de-dup key is identical across attempts and previews",
    ),
    Mutant(
        "emulator-does-not-deduplicate",
        "src/smsgate_acme/emulator.py",
        "seen = self.replay(key)",
        "seen = None",
        "never sent twice",
    ),
    Mutant(
        "rejection-reported-accepted",
        "src/smsgate_acme/reply.py",
        'return Outcome(item["to"], Status.REJECTED, code=code, reason=TABLE.meaning(code))',
        "return Outcome(item[\"to\"], Status.ACCEPTED, message_id='?')",
        "a per-recipient rejection is reported rejected",
    ),
    Mutant(
        "hook-reads-the-clock",
        "src/smsgate_acme/request.py",
        'document: dict[str, Any] = {"to": list(batch.recipients), "text": batch.text}',
        'document: dict[str, Any] = {"to": list(batch.recipients), "text": batch.text, '
        '"ts": int(__import__("time").time())}',
        "hooks are pure",
    ),
    Mutant(
        "hook-reads-the-environment",
        "src/smsgate_acme/request.py",
        "sender = batch.message.sender or settings.sender",
        'sender = batch.message.sender or __import__("os").environ.get("ACME_SENDER") or settings.sender',
        "hooks are pure",
    ),
    Mutant(
        # A base64 token in a *header* is masked by the core's redactor (previews, logs), so
        # nothing leaks; in a result it reaches the caller, the logs and the journal.
        "token-base64-in-a-result",
        "src/smsgate_acme/reply.py",
        "    return Receipt(tuple(outcome(item, scheduled) for item in messages))",
        "    tag = __import__('base64').b64encode(settings.token.reveal().encode()).decode()\n"
        "    return Receipt(tuple(__import__('attrs').evolve(outcome(item, scheduled), reason=tag) "
        "for item in messages))",
        "secrets never appear",
    ),
    Mutant(
        "parser-fuzz-skipped",
        "tests/test_contract.py",
        "class TestAcmeContract(ProviderContract):",
        "import pytest\n\n\nclass TestAcmeContract(ProviderContract):\n"
        "    @pytest.mark.skip(reason='flaky')\n"
        "    def test_contract_parsers_never_crash(self) -> None: ...\n",
        "the contract checks are final",
    ),
    Mutant(
        "hypothesis-missing",
        "tests/conftest.py",
        "",
        "import smsgate.testing.contract\n\n"
        "smsgate.testing.contract.HYPOTHESIS = 'hypothesis_not_installed'  # as without smsgate[test]\n",
        "hypothesis is required",
    ),
    Mutant(
        "parser-crashes-on-garbage",
        "src/smsgate_acme/reply.py",
        '    if not isinstance(doc, dict):\n        raise unreadable("reply is not a JSON object", response)\n',
        "",
        "parsers never crash",
    ),
)


def _copy(tmp_path: Path, mutant: Mutant | None) -> Path:
    target = tmp_path / "plugin"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    if mutant is not None:
        path = target / mutant.path
        text = path.read_text("utf-8") if path.exists() else ""
        assert mutant.old in text, f"{mutant.name}: the example plugin changed; update the mutant"
        path.write_text(text.replace(mutant.old, mutant.new, 1) if mutant.old else mutant.new, "utf-8")
    return target


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SMSGATE_DSN", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests"]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_example_plugin_passes(tmp_path: Path) -> None:
    run = _run(_copy(tmp_path, None))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "skipped" not in run.stdout


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_each_broken_variant_fails_naming_the_rule(tmp_path: Path, mutant: Mutant) -> None:
    run = _run(_copy(tmp_path, mutant))
    output = run.stdout + run.stderr
    assert run.returncode != 0, f"{mutant.name} passed the contract suite:\n{output[-3000:]}"
    assert mutant.rule in output, f"{mutant.name} failed without naming {mutant.rule!r}:\n{output[-3000:]}"
