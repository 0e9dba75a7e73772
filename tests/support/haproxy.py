"""A real load balancer on loopback: Debian's HAProxy in front of `parley serve` processes.

It health-checks every server on `/readyz`, passes WebSocket upgrades through (a tunnel once
upgraded), retries a request whose connection failed on another server, and takes servers in and
out at run time through its admin socket (`add server`, `set server … state drain`, `del server`):
what a Kubernetes Service does with a Deployment's endpoints during a rolling update."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.server import free_port

CHECK_INTERVAL_MS = 500
# Down after 3 failed checks in a row, up after 2 good ones (a busy machine answers slowly, not wrongly).
SERVER_OPTIONS = f"check inter {CHECK_INTERVAL_MS}ms fall 3 rise 2"


def haproxy_binary() -> str | None:
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None


class HAProxy:
    def __init__(self, servers: dict[str, int]) -> None:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy is not installed")
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="parley-haproxy-"))
        self.admin = self.root / "admin.sock"
        self.config = self.root / "haproxy.cfg"
        self.initial = dict(servers)
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def _write_config(self) -> None:
        servers = "\n".join(f"  server {name} 127.0.0.1:{port} {SERVER_OPTIONS}" for name, port in self.initial.items())
        self.config.write_text(
            f"""global
  stats socket {self.admin} mode 600 level admin
  maxconn 4096

defaults
  mode http
  log global
  timeout connect 2s
  timeout client 60s
  timeout server 30s
  # /readyz checks the database, Redis and the broker (2 s each at most).
  timeout check 5s
  # An upgraded WebSocket is a tunnel: idle subscribers stay connected.
  timeout tunnel 1h
  # A request whose connection was refused or reset before an answer goes to another server.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response
  option http-buffer-request

frontend parley
  bind 127.0.0.1:{self.port}
  option forwardfor
  default_backend api

backend api
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
{servers}
"""
        )

    def start(self, timeout: float = 20) -> HAProxy:
        self._write_config()
        check = subprocess.run([self.binary, "-c", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration: {check.stdout}{check.stderr}")
        self.proc = subprocess.Popen(
            [self.binary, "-db", "-f", str(self.config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if self.admin.exists():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"haproxy did not start: {self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def command(self, line: str) -> str:
        """One command on the admin socket (the runtime API); returns its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def states(self) -> dict[str, str]:
        """Each server's status as HAProxy sees it: UP, DOWN, DRAIN, MAINT, (going up/down: `UP 1/2`…)."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        pxname, svname, status = header.index("pxname"), header.index("svname"), header.index("status")
        found = {}
        for line in lines[1:]:
            cols = line.split(",")
            if len(cols) > status and cols[pxname] == "api" and cols[svname] not in ("BACKEND", "FRONTEND"):
                found[cols[svname]] = cols[status]
        return found

    def add_server(self, name: str, port: int) -> None:
        """A new endpoint: added in maintenance (as the runtime API does), then its health check and
        traffic enabled; HAProxy sends it requests once `rise` checks of /readyz passed."""
        for line in (
            f"add server api/{name} 127.0.0.1:{port} {SERVER_OPTIONS}",
            f"enable health api/{name}",
            f"enable server api/{name}",
        ):
            answer = self.command(line).strip()
            if answer and "New server registered" not in answer:
                raise RuntimeError(f"haproxy: {line!r}: {answer}")

    def wait_up(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (state := self.states().get(name)) != "UP":
            if time.monotonic() > deadline:
                raise TimeoutError(f"haproxy never saw {name} ready (last state {state}): {self.states()}")
            time.sleep(0.05)

    def drain(self, name: str) -> None:
        """The endpoint leaves the Service: no new requests or connections; open ones go on."""
        self.command(f"set server api/{name} state drain")

    def remove(self, name: str) -> None:
        self.command(f"set server api/{name} state maint")
        self.command(f"shutdown sessions server api/{name}")
        answer = self.command(f"del server api/{name}").strip()
        if "Server deleted" not in answer:
            raise RuntimeError(f"haproxy: del server {name}: {answer}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
