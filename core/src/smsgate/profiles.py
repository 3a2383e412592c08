"""Named gateways: the configuration file ``smsgate.toml``.

::

    [gateways.shop]
    dsn = "serwersms://:${SERWERSMS_TOKEN}@default?sender=Shop"

    [routers.main]          # read by smsgate.router
    default = ["shop"]

``smsgate.connect("shop")`` and ``--gateway shop`` use it. The file is found by an explicit path
(``--config``), then ``$SMSGATE_CONFIG``, then ``./smsgate.toml``, then the user config directory
(``$XDG_CONFIG_HOME/smsgate/smsgate.toml``, ``~/.config/...``; ``%APPDATA%\\smsgate`` on
Windows). ``${NAME}`` in a value is replaced by the environment variable ``NAME`` when the value
is used, so secrets stay out of the file; the file is never written. Neither ``repr`` nor any
error shows a DSN's secret or a substituted value.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs

from smsgate.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

if TYPE_CHECKING:
    from smsgate.gateway import Gateway

FILENAME = "smsgate.toml"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Set by the CLI's ``--config``: the file to use instead of searching.
explicit_path: Path | None = None


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if os.name == "nt" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "smsgate"
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "smsgate"


def find(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read (see the module docstring), or ``None``. An explicit path
    or ``$SMSGATE_CONFIG`` that does not exist is an error."""
    env = os.environ if env is None else env
    given = path if path is not None else explicit_path
    if given is None and env.get("SMSGATE_CONFIG"):
        given = env["SMSGATE_CONFIG"]
    if given is not None:
        chosen = Path(given).expanduser()
        if not chosen.is_file():
            raise ConfigurationError(f"configuration file {chosen} not found")
        return chosen
    for candidate in (Path.cwd() / FILENAME, user_config_dir(env) / FILENAME):
        if candidate.is_file():
            return candidate
    return None


def substitute(value: str, env: Mapping[str, str] | None = None, *, where: str = "") -> str:
    """``value`` with each ``${NAME}`` replaced by the environment variable (an unset one is
    an error naming the variable, never a value)."""
    env = os.environ if env is None else env

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigurationError(f"{where or 'configuration'}: environment variable {name} is not set")
        return env[name]

    return _VARIABLE.sub(one, value)


@attrs.frozen(repr=False)
class ConfigFile:
    """A parsed ``smsgate.toml``: ``gateways`` (name -> its table) and ``routers`` (name ->
    its table, for :func:`smsgate.router.connect_router`)."""

    path: Path | None
    gateways: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    routers: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    env: Mapping[str, str] | None = None

    def __repr__(self) -> str:
        shown = {name: self.shown_dsn(name) for name in self.gateways}
        return f"ConfigFile({str(self.path)!r}, gateways={shown!r}, routers={sorted(self.routers)!r})"

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> ConfigFile:
        """The configuration file :func:`find` chooses (empty when there is none)."""
        found = find(path, env)
        if found is None:
            return cls(None, env=env)
        try:
            with found.open("rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{found}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigurationError(f"cannot read {found}: {exc.strerror or exc}") from None
        gateways, routers = data.get("gateways", {}), data.get("routers", {})
        for what, table in (("gateways", gateways), ("routers", routers)):
            if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
                raise ConfigurationError(f"{found}: [{what}.NAME] must be tables")
        for name, entry in gateways.items():
            if not isinstance(entry.get("dsn"), str):
                raise ConfigurationError(f'{found}: [gateways.{name}] needs dsn = "scheme://..."')
        overlap = sorted(set(gateways) & set(routers))
        if overlap:
            raise ConfigurationError(f"{found}: {', '.join(overlap)} is both a gateway and a router")
        return cls(found, gateways, routers, env)

    def names(self) -> list[str]:
        return sorted({*self.gateways, *self.routers})

    def dsn(self, name: str) -> str:
        """The DSN of gateway ``name`` with ``${ENV}`` substituted (it holds secrets: do not
        show it)."""
        entry = self.gateways.get(name)
        if entry is None:
            known = ", ".join(self.names()) or "none"
            where = self.path or f"no {FILENAME} found"
            raise ConfigurationError(
                f"no gateway named {name!r} in the configuration ({where}; known: {known}); "
                "a DSN must look like scheme://user:secret@host?option=value"
            )
        return substitute(str(entry["dsn"]), self.env, where=f"[gateways.{name}] dsn")

    def shown_dsn(self, name: str) -> str:
        """The DSN as written, its secret masked (``${VAR}`` references are shown, not values)."""
        raw = str(self.gateways[name]["dsn"])
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", raw)

    def as_mapping(self) -> dict[str, Any]:
        """``{"gateways": ..., "routers": ...}`` with every DSN substituted (for the router)."""
        return {
            "gateways": {name: {**entry, "dsn": self.dsn(name)} for name, entry in self.gateways.items()},
            "routers": {name: dict(entry) for name, entry in self.routers.items()},
        }


def resolve_dsn(name_or_dsn: str, config: ConfigFile | None = None) -> str:
    """A DSN as given, or the DSN of the gateway ``name`` in the configuration file."""
    if "://" in name_or_dsn:
        return name_or_dsn
    return (config or ConfigFile.load()).dsn(name_or_dsn.strip())


def connect_named(name: str, **kwargs: Any) -> Gateway:
    """Connect the gateway (or router) ``name`` of the configuration file."""
    from smsgate.gateway import connect

    config = ConfigFile.load()
    name = name.strip()
    if name in config.routers:
        try:
            from smsgate import router
        except ImportError:
            raise ConfigurationError(f"{name!r} is a router, and this smsgate has no router support") from None
        registry = kwargs.pop("registry", None)

        def factory(gateway: str) -> Gateway:
            return connect(config.dsn(gateway), registry=registry, **kwargs)

        # A Router offers the Gateway's sending API (send, send_many, close).
        return cast("Gateway", router.connect_router(name, config.as_mapping(), gateway_factory=factory))
    return connect(config.dsn(name), **kwargs)
