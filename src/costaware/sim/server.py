"""The HTTP side of the simulator: a threading HTTP/1.1 server with keep-alive.

Each connection gets a daemon thread; a reply is written with one ``sendall`` (status line,
headers and body together, ``TCP_NODELAY`` set) so small replies never wait on Nagle's
algorithm. SSE replies use chunked transfer encoding, one chunk per event.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .engine import Reply, SimEngine
from .faults import Fault

__all__ = ["Simulator", "serve"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive threads may idle for long: never join them
    request_queue_size = 1024  # asyncio clients open hundreds of connections at once

    def __init__(self, address: tuple[str, int], engine: SimEngine) -> None:
        self.engine = engine
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup that can stall offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def close_connections(self) -> None:
        """Shut every open connection so idle keep-alive threads end now."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "costaware-sim"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client may already be gone
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: benchmarks send thousands of requests."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        try:
            raw = self._read_body()
        except ValueError:  # a malformed chunk size: the rest of the stream cannot be trusted
            self.send_error(400, "malformed chunked body")
            self.close_connection = True
            return
        try:
            reply = self.server.engine.handle(self.command, self.path, self.headers, raw)
        except Exception:  # a simulator bug must answer 500, not kill the connection thread
            traceback.print_exc(file=sys.stderr)
            reply = Reply(status=500, headers=[("content-type", "application/json")], body=_INTERNAL)
        if reply.delay > 0:
            time.sleep(reply.delay)
        try:
            if reply.drop:
                self.close_connection = True
            elif reply.events is None:
                self._write_json(reply)
            else:
                self._write_events(reply)
        except OSError:  # the client went away
            self.close_connection = True

    def _head(self, reply: Reply, extra: list[tuple[str, str]]) -> bytes:
        try:
            reason = HTTPStatus(reply.status).phrase
        except ValueError:
            reason = "Error"
        lines = [f"HTTP/1.1 {reply.status} {reason}", "server: costaware-sim"]
        lines.extend(f"{name}: {value}" for name, value in [*reply.headers, *extra])
        if self.close_connection:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write_json(self, reply: Reply) -> None:
        head = self._head(reply, [("content-length", str(len(reply.body)))])
        self.wfile.write(head + reply.body)

    def _write_events(self, reply: Reply) -> None:
        events = reply.events or []
        drop_after = reply.drop_after
        if drop_after is not None:
            events = events[: max(drop_after, 0)]
        chunks = [b"%x\r\n%s\r\n" % (len(event), event) for event in events]
        if drop_after is None:
            chunks.append(b"0\r\n\r\n")
        else:
            self.close_connection = True  # end without the last chunk: the client sees a cut stream
        self.wfile.write(self._head(reply, [("transfer-encoding", "chunked")]) + b"".join(chunks))


_INTERNAL = b'{"type":"error","error":{"type":"api_error","message":"costaware.sim internal error"}}'


class Simulator:
    """A local Anthropic + OpenAI API on 127.0.0.1, served from a background thread.

    Example::

        with Simulator() as sim:
            client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test")
            client.messages.create(model="claude-haiku-4-5", max_tokens=100,
                                   messages=[{"role": "user", "content": "Hi"}])
            assert sim.requests(path="/v1/messages") == 1

    Args:
        host: interface to bind (loopback by default).
        port: port to bind; 0 picks a free one.
        clock: callable returning seconds, used for prompt-cache expiry (default
            ``time.monotonic``); tests inject a fake clock to expire entries.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] | None = None
    ) -> None:
        self.host = host
        self._requested_port = port
        self.engine = SimEngine(clock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind and start serving in a daemon thread; return self. Idempotent."""
        if self._server is None:
            server = _Server((self.host, self._requested_port), self.engine)
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="costaware-sim", daemon=True
            )
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use `with Simulator() as sim`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the root of every endpoint."""
        return f"http://{self.host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``anthropic.Anthropic(base_url=...)``."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)`` (ends with ``/v1``)."""
        return self.url + "/v1"

    # -- control -----------------------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The clock (seconds) used for prompt-cache TTLs; assignable."""
        return self.engine.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.engine.clock = clock

    def add_fault(self, fault: Fault) -> None:
        """Inject a server-wide fault (see ``Fault``)."""
        self.engine.faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.engine.faults.clear()

    def requests(self, path: str | None = None, model: str | None = None) -> int:
        """Return how many API requests arrived (faulted or not), filtered by path and/or model."""
        return self.engine.requests(path, model)

    def stats(self) -> dict[str, Any]:
        """Return the counters, faults and cache sizes (as ``GET /_sim/stats``)."""
        return self.engine.stats()

    def reset(self) -> None:
        """Forget counters, faults and prompt caches."""
        self.engine.reset()


def serve(host: str = "127.0.0.1", port: int = 8080, *, clock: Callable[[], float] | None = None) -> None:
    """Run a simulator in the foreground until Ctrl-C (the ``costaware sim`` command). A port it cannot
    bind (in use, or not allowed) ends the command with a one-line message."""
    try:
        sim = Simulator(host=host, port=port, clock=clock).start()
    except OSError as exc:
        raise SystemExit(f"costaware sim: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    print(f"costaware.sim listening on {sim.url}", flush=True)
    print(f"  ANTHROPIC_BASE_URL={sim.anthropic_base_url}", flush=True)
    print(f"  OPENAI_BASE_URL={sim.openai_base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()
