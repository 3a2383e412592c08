"""One error tree, rooted in :class:`SmsgateError`.

Every error carries the provider's name and the gateway's own code where there is one.
Validation errors are raised before anything is sent; gateway and transport errors describe
what happened on the wire. Secrets never reach an error: the gateway scrubs every error it
raises through its redactor (:meth:`SmsgateError.scrub`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class SmsgateError(Exception):
    """Root of every error smsgate raises."""

    def __init__(self, message: str, *, provider: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code

    def __str__(self) -> str:
        where = f"[{self.provider}] " if self.provider else ""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{where}{self.message}{code}"

    def scrub(self, redact: Callable[[str], str]) -> SmsgateError:
        """Replace every secret in the error's text fields, in place; returns ``self``."""
        for name, value in vars(self).items():
            if isinstance(value, str):
                setattr(self, name, redact(value))
        self.args = tuple(redact(a) if isinstance(a, str) else a for a in self.args)
        return self


# -- configuration and plugins -------------------------------------------------------------


class ConfigurationError(SmsgateError):
    """A DSN, an option or a setting is wrong; raised before anything is sent."""


#: The provider plugins this project ships (``plugins/NAME`` in the repository).
SHIPPED_PROVIDERS = ("bulksms", "octopush", "routesms", "serwersms", "smsc")


class UnknownProviderError(ConfigurationError):
    """No installed plugin serves this DSN scheme.

    The message suggests a near miss ("did you mean 'serwersms'?"), says how to install a
    provider this project ships, and reports a plugin that is installed but failed to load
    (``failures``: name -> error, from ``Registry.failures``) with its error.
    """

    def __init__(self, scheme: str, installed: tuple[str, ...] = (), failures: Mapping[str, str] | None = None) -> None:
        self.scheme = scheme
        self.installed = installed
        self.failures = dict(failures or {})
        super().__init__(self._explain())

    def _explain(self) -> str:
        scheme, failures = self.scheme, self.failures
        known = ", ".join(self.installed) or "none"
        if scheme in failures:
            return (
                f"the smsgate provider {scheme!r} is installed but failed to load: {failures[scheme]}; "
                "fix or reinstall it (`smsgate providers` lists every load failure)"
            )
        text = f"no smsgate provider for scheme {scheme!r}"
        names = sorted({*self.installed, *SHIPPED_PROVIDERS, *failures})
        import difflib  # here, not at the top: discovery does not need it

        close = difflib.get_close_matches(scheme, names, n=1, cutoff=0.6)
        if close and close[0] in self.installed:
            return f"{text}; did you mean {close[0]!r}? (installed: {known})"
        target = close[0] if close else scheme
        lead = f"{text}; did you mean {target!r}?" if target != scheme else f"{text}."
        if target in failures:
            return f"{lead} It is installed but failed to load: {failures[target]}"
        if target in SHIPPED_PROVIDERS:
            return (
                f"{lead} Install the plugin from the smsgate repository: "
                f"`pip install ./plugins/{target}` (installed: {known})"
            )
        if target != scheme:
            text = lead
        if scheme in ("http", "https"):
            text += "; a DSN starts with the provider's name, e.g. bulksms://USER:PASSWORD@default"
        return (
            f"{text} (installed: {known}); this project ships {', '.join(SHIPPED_PROVIDERS)} "
            "(`pip install ./plugins/NAME` from the repository); a third-party provider registers "
            "under the entry-point group smsgate.providers"
        )


class PluginError(SmsgateError):
    """A plugin could not be loaded or registered (broken import, duplicate name, bad hookimpl)."""


# -- input validation ----------------------------------------------------------------------


class ValidationError(SmsgateError):
    """The input breaks a rule; raised before anything is sent. Names the field and the rule."""

    def __init__(self, field: str, rule: str, *, provider: str | None = None, code: str | None = None) -> None:
        super().__init__(f"{field}: {rule}", provider=provider, code=code)
        self.field = field
        self.rule = rule


class InvalidRecipientError(ValidationError):
    """A phone number cannot be normalised to E.164."""

    def __init__(self, number: str, rule: str, *, provider: str | None = None) -> None:
        super().__init__("to", f"{number!r} {rule}", provider=provider, code="invalid_number")
        self.number = number


class MessageTooLongError(ValidationError):
    """The text needs more parts than the gateway (or the caller) allows."""


class KeyConflictError(ValidationError):
    """An idempotency key was already used for a different message; nothing was sent. Like a
    reused Stripe idempotency key: use a new key for new content."""

    def __init__(self, key: str, *, provider: str | None = None) -> None:
        super().__init__(
            "key",
            f"{key!r} was already used for a different message (other recipients, text or options); "
            "use a new key for new content",
            provider=provider,
            code="key_conflict",
        )
        self.key = key


# -- what happened on the wire ---------------------------------------------------------------


class GatewayError(SmsgateError):
    """The gateway answered, and the answer is an error for the whole request.

    ``code`` is the gateway's own code (as text), ``http_status`` the HTTP status and ``body`` a
    (redacted, shortened) copy of the reply.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, code=code)
        self.http_status = http_status
        self.body = body[:2000] if body is not None else None
        self.retry_after = retry_after


class AuthenticationError(GatewayError):
    """The gateway refused the credentials."""


class InsufficientCreditError(GatewayError):
    """The account has no credit left for this request."""


class RateLimitedError(GatewayError):
    """The gateway asked us to slow down; ``retry_after`` is in seconds when it said so."""


class MalformedResponseError(GatewayError):
    """The reply cannot be read. Never treated as success; ``body`` holds the redacted reply."""


class TransportError(SmsgateError):
    """The network failed. ``written`` tells whether the request may have reached the gateway."""

    def __init__(self, message: str, *, kind: str, written: bool, provider: str | None = None) -> None:
        super().__init__(message, provider=provider, code=kind)
        self.kind = kind
        self.written = written
