"""Start-up: what ``smsgate --help`` and ``smsgate providers`` leave unimported, and that the
cheaper paths they take give what the general ones do."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from smsgate import _metadata, cli, output
from smsgate.plugins import PROVIDER_GROUP, Registry

_MODULES_AFTER = """
import io, json, sys
from smsgate.cli import main
try:
    main(sys.argv[1:], out=io.StringIO())
except SystemExit:  # --help
    pass
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after ``smsgate ARGV``."""
    proc = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *argv], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_providers_imports_neither_cattrs_nor_email_nor_tomllib() -> None:
    loaded = modules_after("providers")
    assert {"smsgate.plugins", "smsgate.output"} <= loaded  # it did run
    # cattrs (~8 ms): the capabilities table needs no converter; email (~10 ms): distribution
    # names and versions are read without Distribution.metadata; tomllib: no --config given
    assert not loaded & {"cattrs", "email.parser", "email.feedparser", "tomllib", "smsgate.profiles"}


def test_help_imports_no_attrs_and_no_plugin() -> None:
    loaded = modules_after("--help")
    assert "attrs" not in loaded and "attr" not in loaded
    assert not [m for m in loaded if m.startswith("smsgate_")]


def test_distribution_of_reads_what_the_metadata_parser_reads() -> None:
    eps = _metadata.entry_points(PROVIDER_GROUP)
    assert eps
    for ep in eps:
        assert ep.dist is not None
        assert _metadata.distribution_of(ep) == (ep.dist.metadata["Name"], ep.dist.version)


def test_metadata_header_stops_at_the_body_and_skips_continuations() -> None:
    text = "Metadata-Version: 2.1\nName: smsgate-x\nVersion: 1.2\nSummary: one\n  two\n\nName: not a field\n"
    assert _metadata._header(text) == {
        "Metadata-Version": "2.1",
        "Name": "smsgate-x",
        "Version": "1.2",
        "Summary": "one",
    }


def test_capabilities_table_matches_the_cattrs_converter() -> None:
    providers = Registry(env={}).providers
    assert providers
    for provider in providers.values():
        assert output.provider(provider)["capabilities"] == output.plain(provider.spec.capabilities)


def test_config_option_is_set_and_reset_between_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smsgate import profiles

    monkeypatch.setattr(profiles, "explicit_path", None)
    config = tmp_path / "smsgate.toml"
    assert cli.main(["--config", str(config), "providers"], out=io.StringIO()) == 0
    assert profiles.explicit_path == config
    assert cli.main(["providers"], out=io.StringIO()) == 0
    assert profiles.explicit_path is None  # a later run without --config forgets it


@pytest.mark.parametrize(
    "argv",
    [
        ["providers"],
        ["providers", "--json", "--check"],
        ["send", "--to", "+48500600700", "--text", "hi", "-o", "max_parts=2", "--dry-run"],
        ["status", "id1", "id2", "--recipient", "+48500600700"],
        ["emulate", "smsc", "--latency", "50ms"],
        ["campaign", "list"],
        ["new-plugin", "acme"],
    ],
)
def test_the_one_command_parser_parses_as_the_full_one(argv: list[str]) -> None:
    assert argv[0] in cli._COMMANDS
    assert cli._parser(argv[0]).parse_args(argv) == cli._parser().parse_args(argv)


@pytest.mark.parametrize("argv", [["providers", "--bogus"], ["send", "--text", "x"], ["status"], ["providers", "-h"]])
def test_the_one_command_parser_fails_and_helps_as_the_full_one(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for parser in (cli._parser(argv[0]), cli._parser()):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        outputs.append((exit_.value.code, capsys.readouterr()))
    assert outputs[0] == outputs[1]
