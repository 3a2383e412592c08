"""``nox``: the plugin's tests against the smsgate core installed where nox runs.

The session installs the same core as the environment nox runs in (the local checkout it was
installed from, or the same version), then this plugin and its test tools, and runs pytest. Set
``SMSGATE_CORE`` to a path or requirement to test against another core.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from urllib.parse import unquote, urlsplit

import nox

nox.options.default_venv_backend = "uv|virtualenv"


def core() -> str:
    """What to install as the core: ``$SMSGATE_CORE``, else the one installed here."""
    if os.environ.get("SMSGATE_CORE"):
        return os.environ["SMSGATE_CORE"]
    try:
        dist = importlib.metadata.distribution("smsgate")
    except importlib.metadata.PackageNotFoundError:
        return "smsgate"
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if url.startswith("file:"):
        return unquote(urlsplit(url).path)  # installed from a checkout: the same checkout
    return f"smsgate=={dist.version}"


@nox.session
def tests(session: nox.Session) -> None:
    session.install(core())
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)
