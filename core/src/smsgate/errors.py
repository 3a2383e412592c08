"""One error tree, rooted in :class:`SmsgateError`.

Every error carries the provider's name and the gateway's own code where there is one.
Validation errors are raised before anything is sent; gateway and transport errors describe
what happened on the wire. Secrets never reach an error: the gateway scrubs every error it
raises through its redactor (:meth:`SmsgateError.scrub`).
"""

from __future__ import annotations

from collections.abc import Callable


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


class UnknownProviderError(ConfigurationError):
    """No installed plugin serves this DSN scheme."""

    def __init__(self, scheme: str, installed: tuple[str, ...] = ()) -> None:
        hint = f"pip install smsgate-{scheme}" if scheme.isidentifier() else "the plugin's distribution"
        known = ", ".join(installed) or "none"
        super().__init__(f"no smsgate provider for scheme {scheme!r}; install it with `{hint}` (installed: {known})")
        self.scheme = scheme


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
