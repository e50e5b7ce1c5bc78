"""The network edge of the tests: nothing leaves 127.0.0.1.

`install_loopback_guard` makes every name other than the loopback fail to resolve and every connection to a
non-loopback address fail, as on a machine without network or DNS (conftest installs it for every test, and
`child_site/sitecustomize.py` in every Python process a test starts, which reports each refusal back).
`LocalServer` is a real HTTP server on 127.0.0.1 whose answers the test scripts: a file, a truncated body, an
error status, or a body that stalls after its first bytes until the test releases it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")

Mode = Literal["ok", "truncate", "error500", "stall"]


def is_loopback(host: Any) -> bool:
    """True for the loopback's names and addresses (127.0.0.0/8, ::1); None means "this host" for servers."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in LOOPBACK_NAMES or host == "":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install_loopback_guard(patch: Any, on_refused: Callable[[str], None] | None = None) -> None:
    """Refuse non-loopback names and addresses. `patch(obj, name, value)` sets an attribute (pytest's
    `monkeypatch.setattr`, or `setattr` in a child process that never restores it); `on_refused(host)` hears of
    each refusal (a child process reports it to the test that started it: helpers/child_site)."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refused(host: Any) -> socket.gaierror:
        if on_refused is not None:
            on_refused(str(host))
        return socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host} (only 127.0.0.1 in tests)")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            raise refused(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise refused(address[0])

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    patch(socket, "getaddrinfo", getaddrinfo)
    patch(socket.socket, "connect", connect)
    patch(socket.socket, "connect_ex", connect_ex)


@dataclass
class Served:
    """One scripted answer: `body` with `mode`; "stall" sends `stall_after` bytes, then waits for the release."""

    body: bytes
    mode: Mode = "ok"
    stall_after: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: "LocalServer"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.requests.append(self.path)
        item = self.server.files.get(self.path)
        if item is None:
            self.send_error(404, "Not Found")
            return
        if item.mode == "error500":
            self.send_error(500, "Internal Server Error")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        announced = len(item.body) + 4096 if item.mode == "truncate" else len(item.body)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        if item.mode == "stall":
            self.wfile.write(item.body[: item.stall_after])
            self.wfile.flush()
            self.server.stalled.set()
            self.server.release.wait(120)  # the test cancels the download meanwhile, or releases it
            try:
                self.wfile.write(item.body[item.stall_after :])
            except OSError:  # the client went away (a cancelled download): nothing to finish
                return
        else:
            self.wfile.write(item.body)
        self.close_connection = True  # truncate: the socket closes with bytes still owed

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep pytest output clean
        pass


class LocalServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1:<free port>: `files[path] = Served(...)`, and a request log."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, Served] = {}
        self.requests: list[str] = []
        self.stalled = threading.Event()  # set when a "stall" answer has sent its first bytes
        self.release = threading.Event()  # set to let stalled answers finish

    def serve(self, path: str, body: bytes, mode: Mode = "ok", *, stall_after: int = 0) -> str:
        """Answer GET `path` with `body` (as `mode`); returns the URL."""
        self.files[path] = Served(body, mode, stall_after)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@contextmanager
def running_server() -> Iterator[LocalServer]:
    """A `LocalServer` serving on a daemon thread for the duration of the block."""
    srv = LocalServer()
    thread = threading.Thread(target=srv.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def closed_port_url(path: str = "/SLOWFAST_8x8_R50.pyth") -> str:
    """A URL on a local port nobody listens on: connecting is refused, as on a machine without network."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
