"""The emulator base, over real loopback HTTP (urllib3 and http.client)."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest, Fault, FaultRule


class EchoEmulator(Emulator):
    """Counts handled requests and echoes them back; ``/boom`` raises, ``/json`` answers JSON."""

    name = "echo"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.count = 0
        self.pause = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        with self.lock:
            self.count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.pause:
                time.sleep(self.pause)
            if request.path == "/boom":
                raise RuntimeError("kaboom")
            if request.path == "/json":
                return EmulatorReply.json({"params": request.params(), "n": self.count})
            text = f"{request.method} {request.path} #{self.count} {request.body.decode()}"
            return EmulatorReply(200, text.encode(), headers=(("X-Count", str(self.count)),))
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def emu() -> Iterator[EchoEmulator]:
    with EchoEmulator() as emulator:
        yield emulator


def request(
    emu: Emulator, method: str = "GET", path: str = "/", body: Any = None, **kw: Any
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=kw.pop("timeout", 5))
    try:
        conn.request(method, path, body=body, **kw)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


# -- the request and reply values ----------------------------------------------------------------


def test_request_helpers() -> None:
    req = EmulatorRequest(
        "POST",
        "/send",
        (("to", "48500"), ("from", "q"), ("to", "48501")),
        (("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("X-A", "1")),
        b"text=za%C5%BC%C3%B3%C5%82%C4%87&from=f&empty=",
    )
    assert (req.header("content-type") or "").startswith("application/x-www-form-urlencoded")
    assert req.header("x-a") == "1"
    assert req.header("missing") is None
    assert req.header("missing", "d") == "d"
    assert req.query_value("to") == "48501"  # the last one wins
    assert req.query_value("nope", "x") == "x"
    assert req.form() == {"text": "zażółć", "from": "f", "empty": ""}
    assert req.params() == {"to": "48501", "from": "f", "text": "zażółć", "empty": ""}
    with pytest.raises(ValueError):
        req.json()
    json_type = (("Content-Type", "application/json"),)
    as_json = EmulatorRequest("POST", "/", (("a", "1"),), json_type, b'{"b": 2}')
    assert as_json.json() == {"b": 2}
    assert as_json.params() == {"a": "1"}  # a JSON body is not a form


def test_reply_constructors() -> None:
    assert EmulatorReply() == EmulatorReply(200, b"", "text/plain; charset=utf-8", ())
    reply = EmulatorReply.text("zażółć", 201, encoding="iso-8859-2")
    assert (reply.status, reply.body, reply.content_type) == (
        201,
        "zażółć".encode("iso-8859-2"),
        "text/plain; charset=iso-8859-2",
    )
    reply = EmulatorReply.json({"ok": True, "t": "ż"}, 202)
    assert (reply.status, reply.content_type) == (202, "application/json")
    assert reply.body == '{"ok":true,"t":"ż"}'.encode()


# -- serving -------------------------------------------------------------------------------------


def test_methods_query_and_log_over_urllib3(emu: EchoEmulator) -> None:
    http = urllib3.PoolManager()
    resp = http.request("GET", emu.base_url + "/a/b?x=1&x=2&bad=%FF&blank=", headers={"X-T": "v"})
    assert resp.status == 200
    assert resp.data == b"GET /a/b #1 "
    assert resp.headers["X-Count"] == "1"
    url = emu.base_url + "/json?to=1&a=q"
    resp = http.request("POST", url, fields={"to": "2"}, encode_multipart=False)
    assert resp.json() == {"params": {"to": "2", "a": "q"}, "n": 2}
    for method in ("PUT", "DELETE"):
        data = http.request(method, emu.base_url + "/x", body=b"hi").data
        assert data.startswith(method.encode())
    head = http.request("HEAD", emu.base_url + "/h")
    assert head.status == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == "11"
    first = emu.requests[0]
    assert (first.method, first.path, first.body) == ("GET", "/a/b", b"")
    assert first.query == (("x", "1"), ("x", "2"), ("bad", "\ufffd"), ("blank", ""))
    assert first.header("x-t") == "v"
    assert [r.method for r in emu.requests] == ["GET", "POST", "PUT", "DELETE", "HEAD"]
    emu.reset_log()
    assert emu.requests == []
    assert emu.errors == []


def test_base_emulator_answers_404_and_has_a_dsn() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = emulator.port  # not bound yet
    with emulator as started:
        assert started is emulator
        assert emulator.start() is emulator
        status, _, body = request(emulator, "GET", "/nowhere")
        assert (status, body) == (404, b"no route for GET /nowhere")
        assert emulator.base_url == f"http://127.0.0.1:{emulator.port}"
        assert emulator.dsn() == f"base://user:secret@127.0.0.1:{emulator.port}?tls=false"
        assert emulator.clock is time.time
    emulator.stop()  # idempotent


def test_keep_alive_reuses_one_connection(emu: EchoEmulator) -> None:
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    conn.request("GET", "/one")
    assert conn.getresponse().read() == b"GET /one #1 "
    sock = conn.sock
    conn.request("POST", "/two", body=b"x")
    assert conn.getresponse().read() == b"POST /two #2 x"
    assert conn.sock is sock
    assert emu.connections == 1
    conn.close()


def test_chunked_body(emu: EchoEmulator) -> None:
    status, _, body = request(emu, "POST", "/c", body=iter([b"ab", b"cd"]), encode_chunked=True)
    assert (status, body) == (200, b"POST /c #1 abcd")


def test_handler_exception_is_a_500(emu: EchoEmulator) -> None:
    status, _, body = request(emu, "GET", "/boom")
    assert status == 500
    assert b"RuntimeError" in body
    assert [type(e) for e in emu.errors] == [RuntimeError]
    assert request(emu)[0] == 200  # the server lives on


def test_body_limit() -> None:
    with EchoEmulator(max_body=1024) as emulator:
        assert request(emulator, "POST", "/", b"x" * 1024)[0] == 200
        status, headers, _ = request(emulator, "POST", "/", b"x" * 1025)
        assert status == 413
        assert headers["Connection"] == "close"
        assert request(emulator, "POST", "/", b"x" * (8 << 20))[0] == 413  # drained, not reset
        assert emulator.count == 1
        assert len(emulator.requests) == 1


def test_loopback_only() -> None:
    for host in ("0.0.0.0", "10.1.2.3", "::", "example.com", ""):
        with pytest.raises(ValueError):
            Emulator(host)
    with EchoEmulator("localhost") as a, EchoEmulator("127.0.0.2") as b:
        assert a.host == "127.0.0.1"
        assert request(a)[0] == 200
        assert request(b)[0] == 200


def test_ipv6_loopback() -> None:
    try:
        emulator = EchoEmulator("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    with emulator:
        assert emulator.base_url == f"http://[::1]:{emulator.port}"
        assert urllib3.PoolManager().request("GET", emulator.base_url + "/6").status == 200


def test_quiet(emu: EchoEmulator, capfd: pytest.CaptureFixture[str]) -> None:
    request(emu)
    request(emu, "GET", "/boom")
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")  # the stdlib's own error path
        assert b"400" in sock.recv(1000)
    assert capfd.readouterr() == ("", "")


# -- faults --------------------------------------------------------------------------------------


def test_reset_before_reply_runs_the_handler(emu: EchoEmulator) -> None:
    emu.inject(Fault.RESET_BEFORE_REPLY)
    with pytest.raises(ConnectionError):
        request(emu, "POST", "/send", b"hi")
    assert emu.count == 1
    assert request(emu)[0] == 200  # consumed


def test_reset_over_urllib3(emu: EchoEmulator) -> None:
    emu.inject(Fault.RESET_BEFORE_REPLY)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        urllib3.PoolManager(retries=False).request("POST", emu.base_url + "/send", body=b"x")
    assert emu.count == 1


def test_drop_does_not_run_the_handler(emu: EchoEmulator) -> None:
    emu.inject(Fault.DROP)
    with pytest.raises(ConnectionError):
        request(emu, "POST", "/send", b"hi")
    assert emu.count == 0
    assert len(emu.requests) == 1


def test_timeout_after_accept(emu: EchoEmulator) -> None:
    emu.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=2)
    with pytest.raises(TimeoutError):
        request(emu, "POST", "/send", timeout=0.3)
    assert emu.count == 1


def test_server_error_and_throttle_skip_the_handler(emu: EchoEmulator) -> None:
    emu.inject(Fault.SERVER_ERROR)
    emu.inject(Fault.SERVER_ERROR, status=502)
    emu.inject(Fault.THROTTLE)
    emu.inject(Fault.THROTTLE, retry_after=2.5)
    emu.inject(Fault.THROTTLE, retry_after=120)
    assert request(emu)[0] == 503
    assert request(emu)[0] == 502
    status, headers, _ = request(emu)
    assert (status, headers["Retry-After"]) == (429, "1")
    assert request(emu)[1]["Retry-After"] == "2.5"
    assert request(emu)[1]["Retry-After"] == "120"
    assert emu.count == 0


def test_malformed(emu: EchoEmulator) -> None:
    emu.inject(Fault.MALFORMED, path="/json")
    status, _, body = request(emu, "GET", "/json")
    assert (status, body) == (200, b"<html>\x00\xffoops")
    assert emu.count == 1


def test_truncated(emu: EchoEmulator) -> None:
    emu.inject(Fault.TRUNCATED, times=2)
    with pytest.raises(http.client.IncompleteRead):
        request(emu, "GET", "/long")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        urllib3.PoolManager(retries=False).request("GET", emu.base_url + "/long")
    assert emu.count == 2


def test_slow(emu: EchoEmulator) -> None:
    emu.inject(Fault.SLOW, delay=0.3)
    started = time.monotonic()
    assert request(emu)[0] == 200
    assert time.monotonic() - started >= 0.3
    assert emu.count == 1


def test_times_path_and_fifo(emu: EchoEmulator) -> None:
    emu.inject(Fault.SERVER_ERROR, times=2, path="/a")
    emu.inject(Fault.THROTTLE)
    assert emu.pending_faults() == (
        FaultRule(Fault.SERVER_ERROR, 2, "/a"),
        FaultRule(Fault.THROTTLE),
    )
    assert request(emu, "GET", "/a/x")[0] == 503
    assert request(emu, "GET", "/b")[0] == 429  # the first rule does not match /b
    assert request(emu, "GET", "/b")[0] == 200
    assert request(emu, "GET", "/a")[0] == 503
    assert request(emu, "GET", "/a")[0] == 200
    emu.inject(Fault.DROP, times=5)
    emu.clear_faults()
    assert emu.pending_faults() == ()
    assert request(emu)[0] == 200
    with pytest.raises(ValueError):
        emu.inject(Fault.DROP, times=0)


# -- lifecycle and bounds ------------------------------------------------------------------------


def test_stop_is_prompt_with_a_held_client() -> None:
    emulator = EchoEmulator().start()
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT)  # 30 s
    outcome: list[object] = []

    def client() -> None:
        try:
            outcome.append(request(emulator, "POST", "/send", timeout=10))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while emulator.count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    idle = http.client.HTTPConnection(emulator.host, emulator.port, timeout=5)
    idle.request("GET", "/")  # an idle keep-alive connection must not delay stop() either
    idle.getresponse().read()
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    thread.join(2)
    assert not thread.is_alive()
    assert isinstance(outcome[0], Exception)
    with pytest.raises(OSError):
        socket.create_connection((emulator.host, emulator.port), timeout=1)
    idle.close()


def test_bounded_concurrency_with_fresh_connections() -> None:
    with EchoEmulator(max_connections=4) as emulator:
        emulator.pause = 0.05
        statuses: list[int] = []

        def client() -> None:
            statuses.append(request(emulator, "GET", "/p")[0])

        threads = [threading.Thread(target=client) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert statuses == [200] * 20
        assert emulator.max_in_flight <= 4
        assert emulator.connections == 20


def test_more_keep_alive_clients_than_slots_do_not_starve() -> None:
    with EchoEmulator(max_connections=3) as emulator:
        pool = urllib3.PoolManager(maxsize=12)
        statuses: list[int] = []

        def client() -> None:
            for _ in range(5):
                statuses.append(pool.request("GET", emulator.base_url + "/k").status)

        threads = [threading.Thread(target=client) for _ in range(12)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert statuses == [200] * 60
        assert time.monotonic() - started < 5
        assert emulator.max_in_flight <= 3
