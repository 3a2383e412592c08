"""A provider's code table: each gateway code with its meaning, verdict and error class, in one
record, so ``classify_error``, the reply parsers, the error raised and the contract suite all read
the same line::

    CODES = CodeTable(
        Code("1703", "invalid username or password", Verdict.FATAL, error=AuthenticationError),
        Code("1709", "user validation failed", Verdict.RETRY),
        Code("1715", "response timeout: do not re-submit", Verdict.AMBIGUOUS, final=True),
        Code("1725", "insufficient credit", Verdict.FATAL, error=InsufficientCreditError),
    )

    @hookimpl
    def classify_error(failure, settings):
        return CODES.classify(failure)

    raise CODES.error("1725", http_status=200, body=text)   # InsufficientCreditError

``verdict=None`` marks a success or informational code (never an error); ``delivery`` maps a
delivery-report code onto the normalised state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import attrs

from smsgate.errors import GatewayError, MalformedResponseError
from smsgate.models import Classification, DeliveryStatus, Failure, HttpResponse, Verdict


@attrs.frozen
class Code:
    """One gateway code."""

    code: str
    meaning: str
    verdict: Verdict | None = Verdict.FATAL
    final: bool = False
    error: type[GatewayError] = GatewayError
    delivery: DeliveryStatus | None = None


class CodeTable(Mapping[str, Code]):
    """The codes of one gateway (or of one of its endpoints), by code. ``fallback`` answers
    for a code the table does not list (e.g. "any other number is an SMPP error: fatal")."""

    def __init__(self, *codes: Code, fallback: Callable[[str], Code | None] | None = None) -> None:
        self._codes = {c.code: c for c in codes}
        if len(self._codes) != len(codes):
            raise ValueError("a code is listed twice")
        self._fallback = fallback

    def __getitem__(self, code: str) -> Code:
        return self._codes[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def find(self, code: str | None) -> Code | None:
        """The entry for ``code``: listed, else the fallback's, else ``None``."""
        if code is None:
            return None
        found = self._codes.get(code)
        if found is None and self._fallback is not None:
            found = self._fallback(code)
        return found

    def meaning(self, code: str | None) -> str:
        found = self.find(code)
        return found.meaning if found is not None else f"undocumented code {code}"

    @property
    def verdicts(self) -> Mapping[str, Verdict]:
        """Every listed error code with its verdict (what ``ProviderContract.codes`` takes)."""
        return {c.code: c.verdict for c in self._codes.values() if c.verdict is not None}

    def classify(self, failure: Failure) -> Classification | None:
        """The verdict for ``failure``'s code, with the gateway's Retry-After; ``None`` for a
        code the table does not know (the core's rules answer)."""
        found = self.find(failure.code)
        if found is None or found.verdict is None:
            return None
        retry_after = getattr(failure.error, "retry_after", None)
        return Classification(found.verdict, retry_after, f"code {found.code}: {found.meaning}", found.final)

    def error(
        self,
        code: str,
        *,
        message: str | None = None,
        http_status: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> GatewayError:
        """The error to raise for ``code``: its class (``AuthenticationError``, ...) and meaning."""
        found = self.find(code)
        kind = found.error if found is not None else GatewayError
        text = message or (found.meaning if found is not None else f"undocumented code {code}")
        return kind(text, code=code, http_status=http_status, body=body, retry_after=retry_after)

    def delivery(self, code: str | None, default: DeliveryStatus = DeliveryStatus.UNKNOWN) -> DeliveryStatus:
        found = self.find(code)
        return found.delivery if found is not None and found.delivery is not None else default

    def codes_with(self, error: type[GatewayError]) -> frozenset[str]:
        """The listed codes that raise ``error`` (or a subclass)."""
        return frozenset(c.code for c in self._codes.values() if issubclass(c.error, error))


def unreadable(what: str, response: HttpResponse | None = None, *, body: str | None = None) -> MalformedResponseError:
    """The one way to say a reply cannot be read: ``what`` is wrong, with the (shortened) body."""
    if response is not None:
        return MalformedResponseError(what, http_status=response.status, body=response.text()[:2000])
    return MalformedResponseError(what, body=body)


def merge(*tables: Iterable[Code]) -> tuple[Code, ...]:
    """Codes of several tables as one sequence (endpoint tables sharing a base)."""
    return tuple(c for table in tables for c in table)
