"""Logging for the CLI and ``smsgate serve``: one logger per layer, text or JSON lines, redacted.

The layers log under their own names (``smsgate.engine``, ``smsgate.gateway``,
``smsgate.transport``, ``smsgate.config``, ``smsgate.serve``, ``smsgate.campaign``, ...); a
library user configures them like any other logger. The CLI's ``--log-format json`` (or
``$SMSGATE_LOG_FORMAT``) writes one JSON object per line to standard error: time, level, logger,
message, and the exception when there is one. Every line passes the redacting filter first, so a
secret never reaches a handler in any encoding :mod:`smsgate.redaction` knows.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from smsgate.redaction import FILTER, guard_loggers

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``
    and, when present, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        FILTER.filter(record)  # also when the record comes from a logger created after guarding
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is at the time of each record."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(fmt: str = "text", level: str | int = "WARNING", stream: TextIO | None = None) -> logging.Handler:
    """Send ``smsgate`` and ``urllib3`` records at ``level`` and above to ``stream`` (standard
    error) as ``text`` or ``json`` lines; returns the handler (replacing one set up earlier).
    Loggers keep propagating: an app's own handlers still see the records."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.addFilter(FILTER)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    handler.set_name("smsgate-cli")
    number = level if isinstance(level, int) else logging.getLevelName(level.upper())
    handler.setLevel(number)
    for name in ("smsgate", "urllib3"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "smsgate-cli"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        if number < logging.WARNING and logger.getEffectiveLevel() > number:
            logger.setLevel(number)  # only ever lowered: more detail was asked for
    guard_loggers()
    return handler
