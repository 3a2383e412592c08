"""Loopback servers for the benchmarks: gateway emulators in a child process, and nginx.

Every server binds 127.0.0.1 only, and is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import json
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from benchmarks.common import LOOPBACK, ROOT

EMULATORS = {
    "outbox": "smsgate.builtin.outbox_emulator:OutboxEmulator",
    "serwersms": "smsgate_serwersms.emulator:SerwerSmsEmulator",
    "smsc": "smsgate_smsc.emulator:SmscEmulator",
    "octopush": "smsgate_octopush.emulator:OctopushEmulator",
    "routesms": "smsgate_routesms.emulator:RoutesmsEmulator",
    "bulksms": "smsgate_bulksms.emulator:BulkSmsEmulator",
}

#: Where each emulator keeps what it accepted (counted by ``stats()``).
STORED = {"serwersms": "account.messages"}


def _readline(stream: IO[str], timeout: float) -> str:
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"no answer from the server within {timeout:.0f} s")
    line = stream.readline()
    if not line:
        raise RuntimeError("the server process ended")
    return line


class EmulatorProcess:
    """A gateway emulator (``EMULATORS[name]``) served by ``benchmarks/serve.py`` in a child
    process. ``kwargs`` go to the emulator's constructor; ``dsns`` maps a label to the keyword
    arguments of its ``dsn()``; ``count`` names the attribute holding accepted messages."""

    def __init__(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        dsns: dict[str, dict[str, Any]] | None = None,
        count: str | None = None,
    ) -> None:
        self.name = name
        count = count or STORED.get(name, "messages")
        self.spec = {
            "emulator": EMULATORS[name],
            "kwargs": kwargs or {},
            "dsns": dsns or {"default": {}},
            "count": count,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.hello: dict[str, Any] = {}

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(self.spec) + "\n")
        self.proc.stdin.flush()
        try:
            self.hello = json.loads(_readline(self.proc.stdout, 30.0))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def dsn(self, label: str = "default") -> str:
        return str(self.hello["dsns"][label])

    @property
    def base_url(self) -> str:
        return str(self.hello["base_url"])

    @property
    def username(self) -> str:
        return str(self.hello["username"])

    @property
    def password(self) -> str:
        return str(self.hello["password"])

    def stats(self) -> dict[str, Any]:
        """Requests served, errors, accepted messages, the server's CPU seconds and RSS."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(_readline(self.proc.stdout, 30.0))
        return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    tcp_nodelay on;
    server {{
        listen {host}:{port};
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


class Nginx:
    """nginx answering every request with one fixed body, on a free loopback port."""

    def __init__(self, body: str) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed")
        self.binary = binary
        self.body = body
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Nginx:
        self.dir = tempfile.TemporaryDirectory(prefix="smsgate-bench-nginx-")
        self.port = free_port()
        conf = Path(self.dir.name) / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(dir=self.dir.name, host=LOOPBACK, port=self.port, body=self.body))
        self.proc = subprocess.Popen(
            [self.binary, "-p", self.dir.name, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.dir is not None:
            self.dir.cleanup()
            self.dir = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"
