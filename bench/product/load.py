"""The load generator: wrk (C, event-driven, a closed loop over keep-alive connections), driven by a
generated Lua script that rotates over prepared requests and prints its own summary as JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

LUA = r"""
local prepared = {}
local raw = {%(requests)s}
local n = 0
request = function()
  n = n + 1
  local i = (n %% #raw) + 1
  if prepared[i] == nil then
    local r = raw[i]
    prepared[i] = wrk.format("POST", r[1], r[2], r[3])
  end
  return prepared[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p95_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_string(value: str) -> str:
    level = "=" * 4
    while f"]{level}]" in value:
        level += "="
    return f"[{level}[{value}]{level}]"


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when run as root with apt-get, else says how to get it."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  wrk is missing: apt-get install -y wrk …", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "bench: the load generator wrk is not installed. Install it (Debian/Ubuntu: sudo apt-get install wrk, "
        "macOS: brew install wrk) and run again."
    )


def script(requests: list[tuple[str, dict[str, str], str]]) -> str:
    items = []
    for path, headers, body in requests:
        hdr = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items())
        items.append(f"{{{lua_string(path)}, {{{hdr}}}, {lua_string(body)}}}")
    return LUA % {"requests": ",\n".join(items)}


def run(
    wrk: str,
    url: str,
    requests: list[tuple[str, dict[str, str], str]],
    *,
    connections: int,
    duration: float,
    timeout: float = 10.0,
) -> dict:
    """One closed-loop run; returns wrk's counters (latencies in microseconds)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script(requests))
        path = f.name
    try:
        threads = 1 if connections <= 16 else 2
        cmd = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={timeout:.0f}s",
            "-s",
            path,
            url,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout + 30, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("BENCH "):
                result = json.loads(line[6:])
                for line2 in out.stdout.splitlines():
                    if "Non-2xx" in line2:
                        result["non2xx"] = int(line2.rsplit(":", 1)[1])
                return result
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    finally:
        os.unlink(path)
