"""The noxfile skips a Python that is not installed (locally), requires it on CI, and never
downloads one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ecosystem import ROOT

pytest.importorskip("nox")


def _nox(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    if shutil.which("python3.10", path=path):
        pytest.skip("python3.10 is on the system PATH: nothing to skip")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "UV_PYTHON_DOWNLOADS")}
    env.update(PATH=path, PYENV_ROOT=str(tmp_path / "no-pyenv"), **({"CI": "1"} if ci else {}))
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "tests_core-3.10"]
    argv += ["--envdir", str(tmp_path / "envs")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_missing_interpreter_is_skipped_locally(tmp_path: Path) -> None:
    done = _nox(tmp_path, ci=False)
    assert done.returncode == 0, done.stderr
    assert "Session tests_core-3.10 skipped: Python interpreter 3.10 not found" in done.stderr


def test_missing_interpreter_fails_on_ci(tmp_path: Path) -> None:
    done = _nox(tmp_path, ci=True)
    assert done.returncode != 0
    assert "Session tests_core-3.10 failed: Python interpreter 3.10 not found" in done.stderr


def test_noxfile_never_downloads_interpreters() -> None:
    text = (ROOT / "noxfile.py").read_text()
    assert 'download_python = "never"' in text and '"UV_PYTHON_DOWNLOADS", "never"' in text
