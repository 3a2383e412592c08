"""The template of ``smsgate new-plugin NAME``: a complete provider distribution.

The template is the example plugin of the project's own tests (``core/tests/example_plugin``,
the invented "Acme" JSON gateway) with its name as the placeholder: every ``acme``, ``Acme`` and
``ACME`` becomes the new name. A test keeps the two identical, and another runs the contract
suite on the example and on deliberately broken variants of it, so a generated plugin starts
from code that passes the suite for the right reasons.
"""

from __future__ import annotations

import keyword
import re
from importlib import resources
from pathlib import Path

__all__ = ["TEMPLATE_NAME", "camel", "check_name", "render", "write"]

#: The provider name the template is written with.
TEMPLATE_NAME = "acme"
# No "_": the name is the DSN scheme, and a URL scheme takes letters, digits, "+", "-" and "."
# only (urlsplit("my_gw://...") finds no scheme); the package is smsgate_NAME.
_NAME = re.compile(r"^[a-z][a-z0-9]*$")
_SUFFIX = ".tmpl"


def check_name(name: str) -> str:
    """``name`` if it can be a provider (DSN scheme and ``smsgate_NAME`` package); else ``ValueError``."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r} cannot name a provider: use lowercase letters and digits (e.g. 'acmesms')")
    return name


def camel(name: str) -> str:
    """``acmesms`` -> ``Acmesms``, ``acme_sms`` -> ``AcmeSms`` (class names)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


_PLACEHOLDER = re.compile("ACME|Acme|acme")


def _substitute(text: str, name: str) -> str:
    forms = {"ACME": name.upper(), "Acme": camel(name), "acme": name}
    return _PLACEHOLDER.sub(lambda m: forms[m.group()], text)  # one pass: "acme" may be in the name


def render(name: str) -> dict[str, str]:
    """Every file of the plugin distribution for provider ``name``: relative path -> text."""
    check_name(name)
    root = resources.files(__package__).joinpath("plugin")
    files: dict[str, str] = {}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                if entry.name != "__pycache__":
                    stack.append((entry, f"{prefix}{entry.name}/"))
            elif entry.name.endswith(_SUFFIX):
                path = _substitute(f"{prefix}{entry.name[: -len(_SUFFIX)]}", name)
                files[path] = _substitute(entry.read_text("utf-8"), name)
    return dict(sorted(files.items()))


def write(name: str, target: Path) -> list[Path]:
    """Write the distribution into ``target`` (created; it must not exist or be empty)."""
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    written = []
    for relative, text in render(name).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        written.append(path)
    return written
