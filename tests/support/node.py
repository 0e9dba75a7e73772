"""The npm clients in tests/node: installed from its lock file with `npm ci` when missing or stale, and
run as child processes (one-shot with a JSON answer, or driven line by line over stdin/stdout)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
_STAMP = NODE_DIR / "node_modules" / ".parley-lock.sha256"


def ensure_node_clients() -> Path:
    """tests/node with its node_modules matching package-lock.json (a fresh clone installs them here)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(
            "node and npm are not installed: the JavaScript client checks need them (apt-get install nodejs npm)"
        )
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    if _STAMP.is_file() and _STAMP.read_text().strip() == digest:
        return NODE_DIR
    # Parallel test workers install once: the others wait for the lock and find the stamp.
    lock_path = (
        Path(tempfile.gettempdir()) / f"parley-npm-{hashlib.sha256(str(NODE_DIR).encode()).hexdigest()[:12]}.lock"
    )
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _STAMP.is_file() or _STAMP.read_text().strip() != digest:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, f"npm ci failed in tests/node: {result.stderr[-2000:]}"
            _STAMP.write_text(digest)
    return NODE_DIR


class NodeScript:
    """A Node script driven over JSON lines: the test sends commands, the script reports steps."""

    def __init__(self, script: str, config: dict) -> None:
        self.script = script
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.seen: list[dict] = []

    async def __aenter__(self) -> NodeScript:
        self.proc = await asyncio.create_subprocess_exec(
            "node",
            self.script,
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=2**22,
        )
        await self.send(self.config)
        return self

    async def send(self, message: dict) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, key: str, timeout: float = 30) -> dict:
        """The next line that carries `key` (earlier `event` lines are kept in `seen`)."""
        assert self.proc is not None and self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {key!r} from {self.script} within {timeout}s; saw {self.seen}")
            raw = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not raw:
                await self.proc.wait()
                stderr = (await self.proc.stderr.read()).decode(errors="replace") if self.proc.stderr else ""
                raise AssertionError(
                    f"{self.script} ended (exit {self.proc.returncode}) before {key!r}: {self.seen}\n{stderr[-3000:]}"
                )
            line = json.loads(raw)
            self.seen.append(line)
            if "error" in line:
                raise AssertionError(f"{self.script} failed in {line['error']}: {line['detail']}")
            if key in line:
                return line

    async def finish(self, timeout: float = 30) -> None:
        assert self.proc is not None
        returncode = await asyncio.wait_for(self.proc.wait(), timeout)
        stderr = (await self.proc.stderr.read()).decode(errors="replace") if self.proc.stderr else ""
        assert returncode == 0, stderr[-3000:]

    async def __aexit__(self, *exc) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
