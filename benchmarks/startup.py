"""4. Start-up: ``import smsgate``, ``smsgate --help`` and ``smsgate providers`` (every installed
plugin discovered), each a fresh interpreter, in milliseconds; and what each imports
(``python -X importtime``).

"Cold" here means a new process every run, with bytecode already compiled (one untimed run
first writes it, whatever ``PYTHONDONTWRITEBYTECODE`` says) and the OS file cache warm:
dropping the page cache would disturb everything else on the machine. Two more rows show the
same without any bytecode cache (an empty ``PYTHONPYCACHEPREFIX``, nothing written), as after
an install that compiled nothing and with ``PYTHONDONTWRITEBYTECODE`` set.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import Headline, Section, Settings, Table, fmt, median

#: Modules that plugin discovery (``smsgate providers``) has no use for (``tests/test_discovery.py``
#: holds the shipped plugins to the same list).
NEEDLESS = re.compile(
    r"(^|\.)(emulator\w*|testing|demo)$|^(http\.server|socketserver|pytest|hypothesis|phonenumbers)\b"
    r"|^(hashlib|_hashlib|hmac|ssl|_ssl|xml\.etree|zoneinfo|difflib|signal|urllib3|socket)(\.|$)"
)
#: Modules a plugin needs only to read some replies, imported eagerly by discovery.
EAGER = re.compile(r"^(decimal|csv)\b")


def _smsgate_cmd() -> list[str]:
    script = Path(sys.executable).with_name("smsgate")
    found = str(script) if script.exists() else shutil.which("smsgate")
    return [found] if found else [sys.executable, "-m", "smsgate"]


NO_CACHE = " (no bytecode cache)"
#: Goals of issue 18, warm (bytecode compiled), wall milliseconds.
GOALS = {"python -c 'import smsgate'": 40.0, "smsgate providers": 150.0}


def commands() -> list[tuple[str, list[str], list[str]]]:
    """(label, command, the same under ``-X importtime`` or ``[]``)."""
    py = sys.executable
    cli = _smsgate_cmd()
    return [
        ("python -c pass (interpreter alone)", [py, "-c", "pass"], []),
        ("python -c 'import smsgate'", [py, "-c", "import smsgate"], [py, "-X", "importtime", "-c", "import smsgate"]),
        ("smsgate --help", [*cli, "--help"], [py, "-X", "importtime", "-m", "smsgate", "--help"]),
        ("smsgate providers", [*cli, "providers"], [py, "-X", "importtime", "-m", "smsgate", "providers"]),
        ("python -c 'import smsgate'" + NO_CACHE, [py, "-c", "import smsgate"], []),
        ("smsgate providers" + NO_CACHE, [*cli, "providers"], []),
    ]


def _env(label: str, empty_cache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if label.endswith(NO_CACHE):
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = empty_cache  # look for bytecode only in an empty directory
    return env


def time_commands(commands: list[tuple[list[str], dict[str, str]]], runs: int) -> list[tuple[list[float], list[float]]]:
    """Wall and CPU (user + system) milliseconds of ``runs`` fresh runs of each ``(command, env)``,
    after one untimed run of each; each run bounded to 60 s. The runs go in rounds, every command
    once a round, so that a slower spell of the machine falls on every command alike. Other
    work on the machine stretches the wall time of a run much more than its CPU time."""
    for cmd, env in commands:
        subprocess.run(cmd, capture_output=True, timeout=60, check=True, env=env)
    samples: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for _ in range(runs):
        for (cmd, env), (wall, cpu) in zip(commands, samples):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, timeout=60, check=True, env=env)
            wall.append((time.perf_counter() - start) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return samples


def importtime(cmd: list[str], env: dict[str, str]) -> list[tuple[str, int, int]]:
    """``(module, self µs, cumulative µs)`` for every module ``cmd`` imports."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True, env=env)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, own, cumulative, name = (part.strip() for part in line.replace("import time:", "|").split("|"))
        rows.append((name, int(own), int(cumulative)))
    return rows


_PLUGIN_TIMES = """
import importlib, json, time
import smsgate
out = {}
for name in %r:
    start = time.perf_counter()
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    out[name] = (time.perf_counter() - start) * 1000
print(json.dumps(out))
"""
PLUGINS = ["smsgate_bulksms", "smsgate_octopush", "smsgate_routesms", "smsgate_serwersms", "smsgate_smsc"]


def plugin_import_ms(env: dict[str, str], runs: int) -> dict[str, float]:
    """Median ms to import each plugin package after ``import smsgate`` (in this order, so a
    module two plugins share is counted for the first)."""
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", _PLUGIN_TIMES % PLUGINS],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        )
        for name, ms in json.loads(proc.stdout).items():
            samples[name].append(ms)
    return {name: median(values) for name, values in samples.items()}


def _by_package(rows: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Own import time summed per top-level package: ``(package, modules, µs)``, largest first."""
    total: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for name, own, _ in rows:
        top = name.split(".")[0]
        total[top] += own
        count[top] += 1
    return sorted(((p, count[p], total[p]) for p in total), key=lambda r: -r[2])


def run(settings: Settings) -> Section:
    section = Section("startup", "4. Start-up: import, --help, providers")
    runs = settings.pick(9, 3)
    table = Table(
        ["command", "median ms", "min ms", "max ms", "median CPU ms", "modules imported"],
        caption=f"Fresh interpreter per run; {runs} rounds of every command once, after one untimed run of each:",
    )
    imports: dict[str, list[tuple[str, int, int]]] = {}
    empty = tempfile.TemporaryDirectory(prefix="smsgate-bench-pycache-")
    rows = [(label, cmd, traced, _env(label, empty.name)) for label, cmd, traced in commands()]
    samples = time_commands([(cmd, env) for _, cmd, _, env in rows], runs)
    base = median(samples[0][0])
    for (label, _, traced, env), (times, cpu) in zip(rows, samples):
        modules = importtime(traced, env) if traced else []
        imports[label] = modules
        mid = median(times)
        table.add(label, fmt(mid), fmt(min(times)), fmt(max(times)), fmt(median(cpu)), len(modules) if modules else "")
        if label != rows[0][0]:
            value = f"{mid:.0f} ms ({mid - base:.0f} ms over bare Python; CPU {median(cpu):.0f} ms)"
            goal = GOALS.get(label)
            section.headlines.append(
                Headline(f"start-up: {label}", value, f"≤ {goal:.0f} ms" if goal else "", mid <= goal if goal else None)
            )
    empty.cleanup()
    section.tables.append(table)

    providers = imports["smsgate providers"]
    heavy = Table(
        ["package", "modules", "own import ms"],
        caption="`smsgate providers`: own import time per top-level package (from -X importtime), top 12:",
    )
    for package, n, us in _by_package(providers)[:12]:
        heavy.add(package, n, fmt(us / 1000))
    section.tables.append(heavy)

    plugin_ms = plugin_import_ms(_env("", ""), runs)
    plugin_mods = Table(
        ["plugin", "import ms after smsgate", "modules imported by discovery"],
        caption="What discovery imports from each plugin:",
    )
    per_plugin: dict[str, list[str]] = defaultdict(list)
    for name, _, _ in providers:
        top, _, sub = name.partition(".")
        if top in PLUGINS and sub:
            per_plugin[top].append(sub)
    for plugin in sorted(set(per_plugin) | set(plugin_ms)):
        plugin_mods.add(plugin, fmt(plugin_ms.get(plugin, float("nan"))), ", ".join(sorted(per_plugin[plugin])))
    section.tables.append(plugin_mods)

    needless = sorted({name for name, _, _ in providers if NEEDLESS.search(name)})
    help_plugins = sorted({n.split(".")[0] for n, _, _ in imports["smsgate --help"] if n.startswith("smsgate_")})
    if needless:
        section.note("Discovery imports modules it does not need: " + ", ".join(f"`{n}`" for n in needless) + ".")
    else:
        section.note(
            "Discovery imports no emulator, test kit, http.server, phonenumbers, hashlib, hmac, ssl, XML, "
            "zoneinfo, difflib or signal module."
        )
    eager = sorted(
        {name.split(".")[0] for name, _, _ in providers if EAGER.search(name)}
        - {name.split(".")[0] for name, _, _ in imports["python -c 'import smsgate'"]}
    )
    if eager:
        section.note(
            "Imported by discovery though only some replies need them (eager, not wrong): "
            + ", ".join(f"`{n}`" for n in eager)
            + "."
        )
    if help_plugins:
        section.note("`smsgate --help` imports plugins it does not need: " + ", ".join(help_plugins) + ".")
    else:
        section.note("`smsgate --help` imports no plugin.")
    section.headlines.append(
        Headline("modules discovery imports that it does not need", str(len(needless)), "0", not needless)
    )
    site = [n for n, _, _ in imports["python -c 'import smsgate'"] if n.split(".")[0] in ("certifi",)]
    if site:
        section.note(
            "This interpreter's `site` imports `certifi` at start-up (a .pth file of the environment, not smsgate); "
            "it is counted in every row, including bare Python."
        )
    return section
