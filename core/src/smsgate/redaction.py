"""Redaction of secrets: in text, in bytes, in requests and in every log record we can reach.

A :class:`Redactor` masks each secret in every spelling a plugin or a library may give it:

- raw, and percent-encoded in UTF-8, ISO-8859-1, windows-1252, windows-1251 and KOI8-R
  (``%20`` or ``+`` for a space, upper- or lower-case hex, any set of characters left unescaped);
- JSON ``\\uXXXX`` escapes and XML/HTML character references;
- the secret's bytes in any of those encodings read back in another one (mojibake);
- hex of those bytes, and base64 (standard and URL-safe) of the secret alone and inside a
  longer token such as HTTP Basic ``user:secret`` (the whole token is masked).

Secrets shorter than :attr:`Redactor.SHORT` characters are masked only where they stand alone
(not inside a word), so that a 3-letter password does not blank out every word containing it.

Logs: the filter is attached to every ``smsgate*`` and ``urllib3*`` logger, because a logger's
filters only see records created on that very logger (never those propagated from a child).
:func:`guard_loggers` attaches it to loggers created since; the transport calls it before each
request.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from smsgate.models import HttpRequest
from smsgate.spec import Secret

__all__ = ["RedactingFilter", "Redactor", "guard_loggers", "is_credential_header", "secrets_of"]

#: Charsets a gateway may encode a secret in (BulkSMS posts ISO-8859-1, SMSC takes cp1251/koi8-r).
ENCODINGS = ("utf-8", "latin-1", "cp1252", "cp1251", "koi8-r")
_B64 = "A-Za-z0-9+/_-"  # both base64 alphabets
_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
_JSON_SHORT = {'"': '\\\\"', "\\": "\\\\\\\\", "/": "\\\\/"}
_CREDENTIAL_HEADER = re.compile(
    r"(?:^|[-_])(?:auth\w*|authorization|api[-_]?key|access[-_]?key|secret\w*|token|password|passwd"
    r"|cookie|set-cookie|signature|credentials?)(?:$|[-_])",
    re.IGNORECASE,
)


def is_credential_header(name: str) -> bool:
    """Whether a header carries a credential by its name (``Authorization``, ``X-Api-Key``...)."""
    return bool(_CREDENTIAL_HEADER.search(name))


def secrets_of(settings: Any) -> tuple[str, ...]:
    """Every ``Secret`` value held by an attrs settings instance."""
    return tuple(
        v.reveal()
        for v in (getattr(settings, f.name) for f in attrs.fields(type(settings)))
        if isinstance(v, Secret) and v
    )


# -- building the patterns ------------------------------------------------------------------


def _encodings(text: str) -> Iterator[bytes]:
    """``text`` in every charset of :data:`ENCODINGS` that can encode it (distinct)."""
    seen: set[bytes] = set()
    for encoding in ENCODINGS:
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        if data not in seen:
            seen.add(data)
            yield data


def _hex_ci(text: str) -> str:
    """A regex matching the hex digits ``text`` in either case."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


def _spellings(char: str) -> list[str]:
    """ASCII regexes for the escaped spellings of one character (percent, JSON, XML)."""
    if char.isascii() and char.isalnum():
        return []
    out = {"".join(f"%{_hex_ci(f'{b:02X}')}" for b in data) for data in _encodings(char)}
    if char == " ":
        out.add(r"\+")
    units = char.encode("utf-16-be")
    out.add("".join(rf"\\u{_hex_ci(units[i : i + 2].hex())}" for i in range(0, len(units), 2)))
    if char in _JSON_SHORT:
        out.add(_JSON_SHORT[char])
    out.add(f"&#0*{ord(char)};")
    out.add(f"&#[xX]0*{_hex_ci(f'{ord(char):X}')};")
    if char in _ENTITIES:
        out.add(f"&{_ENTITIES[char]};")
    return sorted(out, key=len, reverse=True)


def _charwise(secret: str, *, binary: bool) -> bytes | str:
    """One regex for the secret spelled character by character, each raw or escaped."""
    parts: list[bytes] = []
    for char in secret:
        spelled = [s.encode("ascii") for s in _spellings(char)]
        raw = [re.escape(data) for data in _encodings(char)] if binary else [re.escape(char).encode()]
        alternatives = raw + spelled
        parts.append(alternatives[0] if len(alternatives) == 1 else b"(?:" + b"|".join(alternatives) + b")")
    joined = b"".join(parts)
    return joined if binary else joined.decode()


def _mojibake(secret: str) -> set[str]:
    """The secret's bytes in one charset decoded as another."""
    out: set[str] = set()
    for data in _encodings(secret):
        for encoding in ENCODINGS:
            try:
                out.add(data.decode(encoding))
            except UnicodeDecodeError:
                continue
    out.discard(secret)
    return out


def _b64_forms(data: bytes) -> set[str]:
    alphabet = base64.b64encode(data).decode()
    return {alphabet.rstrip("="), alphabet.rstrip("=").translate(str.maketrans("+/", "-_"))}


def _b64_cores(data: bytes) -> set[str]:
    """The base64 characters that depend only on ``data``, wherever it sits in a longer
    string (one per alignment: 0, 1 or 2 bytes before it)."""
    out: set[str] = set()
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + data).decode()
        core = encoded[-(-8 * k // 6) : 8 * (k + len(data)) // 6]
        out |= {core, core.translate(str.maketrans("+/", "-_"))}
    return out


def _literals(secret: str) -> list[str]:
    """Literal regexes: hex of the secret's bytes (either case) and its mojibake."""
    forms = set(map(re.escape, _mojibake(secret)))
    forms |= {_hex_ci(data.hex()) for data in _encodings(secret)}
    return sorted(forms, key=len, reverse=True)


def _tokens(secret: str, users: Iterable[str], short: bool) -> list[str]:
    """Base64 forms: exact (the secret, ``user:secret``), and for a long secret the cores
    that show it inside any longer token."""
    forms: set[str] = set()
    for data in _encodings(secret):
        forms |= _b64_forms(data) if short else _b64_cores(data)
    for user in users:
        for data in _encodings(f"{user}:{secret}"):
            forms |= _b64_forms(data)
    escaped = "|".join(map(re.escape, sorted(forms, key=len, reverse=True)))
    return [f"(?<![{_B64}])(?:{escaped})=*(?![={_B64}])" if short else f"(?:{escaped})"]


def _pattern(secret: str, short: bool, *, binary: bool) -> str:
    """The regex for one secret's character-wise and literal forms (latin-1 text when
    ``binary``: compile it as bytes)."""
    charwise = _charwise(secret, binary=binary)
    literals = _literals(secret) if not binary else [_hex_ci(d.hex()) for d in _encodings(secret)]
    body = "|".join([charwise.decode("latin-1") if isinstance(charwise, bytes) else charwise, *literals])
    return rf"(?<![\w%])(?:{body})(?!\w)" if short else f"(?:{body})"


def _spans(pattern: re.Pattern[Any], data: Any, alphabet: Any) -> list[tuple[int, int]]:
    """Matches of ``pattern`` widened to the whole base64 token around them."""
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(data):
        start, end = match.span()
        while start > 0 and data[start - 1 : start] in alphabet:
            start -= 1
        while end < len(data) and data[end : end + 1] in alphabet:
            end += 1
        while end < len(data) and data[end : end + 1] in ("=", b"="):
            end += 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def _mask_spans(data: Any, spans: list[tuple[int, int]], mask: Any) -> Any:
    out, last = [], 0
    for start, end in spans:
        out += [data[last:start], mask]
        last = end
    out.append(data[last:])
    return data[:0].join(out)


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_ALPHABET_BYTES = frozenset(c.encode() for c in _ALPHABET)


class Redactor:
    """Replaces secrets, in every encoding they may take, with ``***``.

    ``users`` (optional) are account names: their ``user:secret`` base64 (HTTP Basic) is then
    recognised even for a short secret.
    """

    MASK = "***"

    #: Secrets shorter than this are masked only where they stand alone (not inside words).
    SHORT = 6

    def __init__(self, secrets: Iterable[str], *, users: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        names = tuple(u for u in users if u)
        short = {s: len(s) < self.SHORT for s in values}
        text = "|".join(_pattern(s, short[s], binary=False) for s in values)
        data = "|".join(_pattern(s, short[s], binary=True) for s in values)
        tokens = "|".join(t for s in values for t in _tokens(s, names, short[s]))
        self._text = re.compile(text) if values else None
        self._bytes = re.compile(data.encode("latin-1")) if values else None
        self._b64 = re.compile(tokens) if values else None
        self._b64_bytes = re.compile(tokens.encode("ascii")) if values else None
        _register(self)

    def __bool__(self) -> bool:
        return self._text is not None

    def __call__(self, text: str) -> str:
        """``text`` with every secret masked."""
        if self._text is None or self._b64 is None:
            return text
        text = _mask_spans(text, _spans(self._b64, text, _ALPHABET), self.MASK)
        return self._text.sub(self.MASK, text)

    def bytes(self, data: bytes) -> bytes:
        """``data`` (a body in any of :data:`ENCODINGS`) with every secret masked."""
        if self._bytes is None or self._b64_bytes is None:
            return data
        mask = self.MASK.encode()
        data = _mask_spans(data, _spans(self._b64_bytes, data, _ALPHABET_BYTES), mask)
        return self._bytes.sub(mask, data)

    def header(self, name: str, value: str) -> str:
        """A header value: masked whole for a credential header or one holding a secret."""
        if is_credential_header(name) or self(value) != value:
            return self.MASK
        return value

    def request(self, request: HttpRequest) -> HttpRequest:
        """``request`` with secrets masked; credential headers are masked whole, the others
        (``Idempotency-Key``, ``Content-Type``...) are left alone."""
        return HttpRequest(
            request.method,
            self(request.url),
            tuple((k, self.header(k, v)) for k, v in request.headers),
            self.bytes(request.body),
        )


# -- log redaction -----------------------------------------------------------------------------

_redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
_lock = threading.Lock()


def _register(redactor: Redactor) -> None:
    if redactor:
        with _lock:
            _redactors.add(redactor)


def redact_all(text: str) -> str:
    """``text`` scrubbed by every live redactor (every open gateway's secrets)."""
    with _lock:
        redactors = tuple(_redactors)
    for redactor in redactors:
        text = redactor(text)
    return text


class RedactingFilter(logging.Filter):
    """Scrubs every live gateway's secrets from a record's message, traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _lock:
            live = bool(_redactors)
        if not live:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it; keep the raw text safe
            message = str(record.msg)
            record.args = None
        clean = redact_all(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_all(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_all(record.stack_info)
        return True


FILTER = RedactingFilter()
_PREFIXES = ("smsgate", "urllib3")
_guarded = -1


def guard_loggers() -> None:
    """Attach the redacting filter to every ``smsgate*`` and ``urllib3*`` logger that exists
    (cheap when no logger was created since the last call)."""
    global _guarded
    registry = logging.Logger.manager.loggerDict
    if len(registry) == _guarded:
        return
    for name, logger in dict(registry).items():
        if isinstance(logger, logging.Logger) and name.startswith(_PREFIXES):
            logger.addFilter(FILTER)
    _guarded = len(registry)


for _name in ("smsgate", "smsgate.gateway", "smsgate.engine", "smsgate.transport", "smsgate.config", "urllib3"):
    logging.getLogger(_name)
guard_loggers()
