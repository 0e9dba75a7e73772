"""A real uvicorn serving a Parley app on a free loopback port, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from typing import ClassVar

import uvicorn

from infra.settings import Settings

# bcrypt's lowest cost: hashing in tests checks what it decides, not how long it takes (production
# refuses anything under 10, so servers started with PARLEY_ENV=production keep their default).
TEST_BCRYPT_ROUNDS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    running: ClassVar[list[LiveServer]] = []  # started and not stopped, in this process

    def __init__(self, settings: Settings) -> None:
        from parley.app import create_app
        from parley.ws_protocol import uvicorn_options

        self.settings = settings
        self.port = free_port()
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="on",
            ws_ping_interval=None,
            **uvicorn_options(),  # the WebSocket protocol `parley serve` runs
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 20) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server thread died during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.02)
        LiveServer.running.append(self)
        return self

    def stop(self) -> None:
        if self in LiveServer.running:
            LiveServer.running.remove(self)
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def pause_scheduler(self) -> bool:
        """Stop this server's periodic jobs (its outbox sweeper would send another server's jobs to
        its own broker: tests run servers of different namespaces on one database). True if it had any."""
        scheduler = getattr(self.app.state, "scheduler", None)
        if scheduler is None:
            return False
        self.run_on_loop(scheduler.stop())
        return True

    def resume_scheduler(self) -> None:
        scheduler = self.app.state.scheduler

        async def start() -> None:
            scheduler.start()

        self.run_on_loop(start())

    def run_on_loop(self, coro, timeout: float = 10):
        """Run a coroutine on the server's loop (where its services live) and wait for the result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ProcessServer:
    """`parley serve` in a child process, configured only through its environment — as an operator runs it."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        import os
        import sys

        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        self.env.update(env)
        self.env["PARLEY_PORT"] = str(self.port)
        if self.env.get("PARLEY_ENV", "").lower() != "production":
            self.env.setdefault("PARLEY_BCRYPT_ROUNDS", str(TEST_BCRYPT_ROUNDS))
        self.cmd = [sys.executable, "-m", "parley.cli", "serve", *args]
        self.proc = None
        self.output = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 60) -> ProcessServer:
        import tempfile

        import httpx

        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"parley serve exited with {self.proc.returncode}: {self.read_output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"parley serve did not start: {self.read_output()}")

    def read_output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ProcessServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
