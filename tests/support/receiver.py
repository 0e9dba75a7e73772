"""A real HTTP webhook receiver on a loopback port, in a thread: it records every request and answers
with scripted statuses (and optional delays), 200 once the script runs out."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)  # to compare with timestamps of other processes
    peer: tuple[str, int] | None = None  # the client's address: one per connection

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self):
        import json

        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: list[tuple[int, float, bytes]] = []
        self._lock = threading.Lock()
        self.release = threading.Event()  # ends a "hang" answer early
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-request (a killed worker): like any HTTP server, this
                    # is no request at all, nothing is recorded or answered.
                    self.close_connection = True
                    return
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, peer=self.client_address
                        )
                    )
                    status, delay, answer = receiver._script.pop(0) if receiver._script else (200, 0.0, b"ok")
                if delay:
                    receiver.release.wait(delay)
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (timeout, killed worker)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"receiver-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def script(self, *answers: int | tuple[int, float] | tuple[int, float, bytes]) -> None:
        """Answers for the next requests: a status, (status, delay seconds) or (status, delay, body)."""
        with self._lock:
            for answer in answers:
                if isinstance(answer, int):
                    answer = (answer, 0.0)
                status, delay, *rest = answer
                self._script.append((status, delay, rest[0] if rest else f"status {status}".encode()))

    def events(self, name: str) -> list[Received]:
        return [r for r in list(self.requests) if r.body and r.json().get("event") == name]

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
