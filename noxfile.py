"""Every check, one entry point: ``nox`` runs them all; ``nox -l`` lists them.

- ``tests_core``: the core alone, on every supported Python.
- ``tests_provider``: each plugin's tests with only the core and that plugin installed.
- ``ecosystem``: every distribution together (discovery, CLI end to end, demo, all plugin
  tests), on every supported Python.
- ``celery``: the PostgreSQL store and the Celery workers (``contrib/celery``) against the real
  PostgreSQL, Redis and RabbitMQ (skipped with a line when one is down; failed on CI).
- ``lint`` (ruff) and ``mypy`` (strict, every distribution, tests and this file).
- ``docs``: the MkDocs site (``mkdocs build --strict``), with the providers' capability matrix
  generated from their specs (``mkdocs_hooks.py``).
- ``benchmarks`` (not by default): the measurements in ``benchmarks/``.

A Python version that is not installed is skipped ("Session tests_core-3.10 skipped: Python
interpreter 3.10 not found."); with ``CI`` set it fails instead. Nothing downloads interpreters.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"
PROVIDERS = sorted(p.parent.name for p in ROOT.glob("plugins/*/pyproject.toml"))
TEST_DEPS = ["pytest>=8", "hypothesis>=6.100", "opentelemetry-sdk>=1.20", "waitress>=3.0", "trustme>=1.1"]
DOCS_DEPS = ["mkdocs>=1.6,<2", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]

nox.options.default_venv_backend = "uv|virtualenv"
# Locally, a Python version that is not installed is skipped (with a line saying so); on CI
# (``CI`` set) every version is required. Interpreters are found, never downloaded: neither nox
# nor uv fetches a missing one behind your back.
CI = bool(os.environ.get("CI"))
nox.options.error_on_missing_interpreters = CI
if hasattr(nox.options, "download_python"):  # nox >= 2025.05
    nox.options.download_python = "never"
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
nox.options.sessions = [
    "lint",
    "mypy",
    "tests_core",
    "simulation",
    "plugin_kit",
    "tests_provider",
    "ecosystem",
    "celery",
    "docs",
]

# pyenv installs interpreters under ~/.pyenv/versions; its shims only answer for the global
# version, so put the real interpreters on PATH for nox and uv to find.
_pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
if _pyenv.is_dir():
    _bins = [str(p / "bin") for v in PYTHONS for p in sorted(_pyenv.glob(f"{v}.*"))]
    os.environ["PATH"] = os.pathsep.join([*_bins, os.environ.get("PATH", "")])


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs)


@nox.session(python=PYTHONS)
def tests_core(session: nox.Session) -> None:
    """The core's own tests, with no provider plugin installed (the fault-schedule simulation
    briefly: its full run is the ``simulation`` session)."""
    session.install("./core", *TEST_DEPS)
    session.env["SMSGATE_SIM_SCHEDULES"] = os.environ.get("SMSGATE_SIM_SCHEDULES", "300")
    _pytest(session, "core/tests", "--ignore=core/tests/test_contract_mutants.py")


@nox.session(python=DEFAULT_PYTHON)
def plugin_kit(session: nox.Session) -> None:
    """The contract suite against its deliberately broken plugins (each must fail, naming the
    rule), and ``smsgate new-plugin`` tested from a fresh venv with only the core."""
    session.install("./core", *TEST_DEPS)
    session.env["SMSGATE_SLOW"] = "1"
    _pytest(session, "core/tests/test_contract_mutants.py", "core/tests/test_plugin_kit.py")


@nox.session(python=DEFAULT_PYTHON)
def simulation(session: nox.Session) -> None:
    """The engine under random fault schedules: 10,000 per capability profile (set
    ``SMSGATE_SIM_SCHEDULES`` for a longer run; ``SMSGATE_SIM_SEED`` for other schedules)."""
    session.install("./core", *TEST_DEPS)
    session.env["SMSGATE_SIM_SCHEDULES"] = os.environ.get("SMSGATE_SIM_SCHEDULES", "10000")
    _pytest(session, "core/tests/test_simulation.py")


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("provider", [nox.param(p, id=p, tags=[p]) for p in PROVIDERS])
def tests_provider(session: nox.Session, provider: str) -> None:
    """One plugin's tests with only the core and that plugin installed."""
    session.install("./core", f"./plugins/{provider}", *TEST_DEPS)
    _pytest(session, f"plugins/{provider}/tests")


@nox.session(python=PYTHONS)
def ecosystem(session: nox.Session) -> None:
    """Every distribution together: discovery, the CLI end to end, and every plugin's tests."""
    session.install("./core", *(f"./plugins/{p}" for p in PROVIDERS), *TEST_DEPS)
    _pytest(session, "tests")
    for provider in PROVIDERS:  # one run per test folder: plugins' test modules share names
        _pytest(session, f"plugins/{provider}/tests")


@nox.session(python=DEFAULT_PYTHON)
def celery(session: nox.Session) -> None:
    """The PostgreSQL store and smsgate-celery (``contrib/celery``) against the real services:
    PostgreSQL, Redis and RabbitMQ at ``$SMSGATE_TEST_POSTGRES``, ``$SMSGATE_TEST_REDIS``,
    ``$SMSGATE_TEST_RABBITMQ`` (loopback defaults). A service that does not answer skips its tests
    with a line naming it; on CI (``CI`` set) it fails them."""
    session.install("./core[postgres]", "./contrib/celery", *TEST_DEPS)
    _pytest(session, "core/tests/test_store_postgres.py", "-rs")
    _pytest(session, "contrib/celery/tests", "-rs")


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=DEFAULT_PYTHON)
def mypy(session: nox.Session) -> None:
    """Strict typing over every distribution, its tests, the benchmarks and this file."""
    plugins = [f"-e./plugins/{p}" for p in PROVIDERS]
    session.install(
        "mypy>=1.10",
        "nox",
        "-e",
        "./core[postgres]",
        *plugins,
        *TEST_DEPS,
        "-r",
        "benchmarks/requirements.txt",
        "-e",
        "./contrib/celery",
        "celery-types>=0.22",
    )
    session.run("mypy", "core/src", "noxfile.py", "mkdocs_hooks.py")
    session.run("mypy", "core/tests")
    session.run("mypy", "tests")
    session.run("mypy", "benchmarks")
    for provider in PROVIDERS:
        session.run("mypy", f"plugins/{provider}/src", f"plugins/{provider}/tests")
    session.run("mypy", "contrib/celery/src", "contrib/celery/tests")


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site, strict: a broken link or reference fails. Output in site/."""
    session.install("./core", *(f"./plugins/{p}" for p in PROVIDERS), *DOCS_DEPS)
    quiet = {"NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"), *session.posargs, env=quiet)


@nox.session(python=DEFAULT_PYTHON, default=False)
def benchmarks(session: nox.Session) -> None:
    """Measurements, not tests: writes benchmarks/RESULTS.md (see benchmarks/README.md)."""
    session.install("./core", *(f"./plugins/{p}" for p in PROVIDERS), "-r", "benchmarks/requirements.txt")
    session.run("python", "benchmarks/run.py", *session.posargs)
