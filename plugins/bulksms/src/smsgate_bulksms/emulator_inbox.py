"""The emulated account's incoming messages (MO) and its ``get_inbox`` reply (1.0 and 1.1).

What :meth:`BulkSmsEmulator.receive` injects is kept here, with increasing ``msg_id``s; the
reply lists the messages after ``last_retrieved_id``, at most ``limit``, as the documentation
shows them (``\\n``/``\\r`` escaped, times in the account's zone).
"""

from __future__ import annotations

import itertools
import threading
from zoneinfo import ZoneInfo

import attrs

from smsgate_bulksms.emulator_model import local_time

PATHS = ("/eapi/reception/get_inbox/1/1.0", "/eapi/reception/get_inbox/1/1.1")


@attrs.frozen
class Received:
    """One incoming message: its id, the subscriber, the text, our number, when."""

    msg_id: int
    sender: str
    text: str
    msisdn: str
    at: float
    referring_batch_id: str = "0"


class Inbox:
    """The account's incoming messages, oldest first."""

    def __init__(self, first_id: int = 19) -> None:
        self.messages: list[Received] = []
        self._ids = itertools.count(first_id)
        self._lock = threading.Lock()

    def add(self, sender: str, text: str, msisdn: str, at: float, referring_batch_id: str = "0") -> Received:
        with self._lock:
            received = Received(next(self._ids), sender.lstrip("+"), text, msisdn.lstrip("+"), at, referring_batch_id)
            self.messages.append(received)
            return received

    def reply(self, last_id: str, path: str, zone: ZoneInfo, limit: int = 1000) -> str:
        """The get_inbox reply for ``last_retrieved_id=last_id`` on ``path`` (1.1 adds ``encoding``)."""
        if not (last_id.isascii() and last_id.isdigit()):
            return "24|data validation failed: last_retrieved_id must be an integer|"
        with self._lock:
            rows = [m for m in self.messages if m.msg_id > int(last_id)][:limit]
        v11 = path.endswith("1.1")
        lines = ["0|Results to follow" if v11 else f"0|records to follow|{len(rows)}"]
        for m in rows:
            text, encoding = m.text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r"), "7bit"
            if v11 and not _latin1(m.text):  # 1.1 names the encoding: Unicode goes as UTF-16 hex
                text, encoding = m.text.encode("utf-16-be").hex().upper(), "16bit"
            fields = [str(m.msg_id), m.sender, text, local_time(m.at, zone), m.msisdn, m.referring_batch_id]
            lines.append("|".join(fields + ([encoding] if v11 else [])))
        return "\n".join(lines) + "\n"


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
