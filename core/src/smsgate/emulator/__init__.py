"""The loopback HTTP server every provider plugin extends with its gateway's behaviour.

Gateway emulators power the plugin tests, ``smsgate emulate NAME``, ``smsgate demo`` and the
benchmarks. A plugin subclasses :class:`Emulator`, sets :attr:`Emulator.name`, overrides
:meth:`Emulator.handle` (and :meth:`Emulator.dsn` when the default does not fit) and guards its own
state with :attr:`Emulator.lock`, because ``handle`` runs on many threads at once::

    class AcmeEmulator(Emulator):
        name = "acme"
        dedup = "key"  # the field it de-duplicates by, as Capabilities.dedup says

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sent: dict[str, str] = {}

        def handle(self, request: EmulatorRequest) -> EmulatorReply:
            if request.method == "POST" and request.path == "/v1/send":
                params = request.params()
                with self.lock:
                    if (seen := self.replay(params.get("key"))) is not None:
                        return seen  # de-duplication: a resend under a used key replays the reply
                    msg_id = f"m{len(self.sent) + 1}"
                    self.sent[msg_id] = params.get("to", "")
                    self.take(params.get("to", ""), params.get("key"))  # what the suite counts
                    return self.remember(params.get("key"), EmulatorReply.json({"id": msg_id}))
            return super().handle(request)  # 404

    with AcmeEmulator() as emu:  # 127.0.0.1, a free port
        emu.inject(Fault.RESET_BEFORE_REPLY)  # the next send is accepted but never answered
        ...  # point a client at emu.dsn(), then look at emu.sent and emu.requests

``Emulator(latency=0.05, jitter=0.01)`` (or ``latency="50ms"``, see :func:`parse_duration`) holds
every reply -- and every reset -- until latency ± jitter seconds after its request arrived, on its
handler thread, sleeping, so a thousand slow replies cost no CPU; the emulator's own work is inside
that time (as a real gateway's is), never added to it. ``seed=`` makes the jitter reproducible.
``emu.lateness`` says how punctual it was: how many held replies went out past their due time, and
by how much in total and at worst (work longer than the latency, or a busy machine).

The server speaks HTTP/1.1 with keep-alive, serves at most ``max_connections`` connections at
once (further ones wait; idle keep-alive connections are closed while others wait), refuses bodies
over ``max_body`` with 413, logs nothing, and turns an exception in ``handle`` into a 500.

The package: :mod:`smsgate.emulator.base` (:class:`Emulator`), :mod:`smsgate.emulator.http`
(request and reply values, the server), :mod:`smsgate.emulator.faults` (:class:`Fault`,
:class:`FaultRule`, :func:`parse_duration`).
"""

from smsgate.emulator.base import Emulator
from smsgate.emulator.faults import Fault, FaultRule, parse_duration
from smsgate.emulator.http import EmulatorReply, EmulatorRequest

__all__ = ["Emulator", "EmulatorReply", "EmulatorRequest", "Fault", "FaultRule", "parse_duration"]
