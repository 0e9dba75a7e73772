"""A real IMAP server for the tests: Debian's dovecot on a free loopback port, with its own
configuration, plain authentication from a passwd file and maildirs in a temporary directory."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.server import free_port

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
PASSWORD = "imap-secret"


def unavailable() -> str | None:
    """Why dovecot cannot run here, or None."""
    if DOVECOT is None:
        return "dovecot is not installed (Debian: apt-get install dovecot-imapd; scripts/test installs it as root)"
    if os.geteuid() != 0:
        return "dovecot's test server runs as root (it switches to its own users)"
    try:
        pwd.getpwnam("dovenull")
        pwd.getpwnam("dovecot")
    except KeyError:
        return "dovecot's system users are missing (reinstall dovecot-core)"
    return None


class Dovecot:
    def __init__(self, users: list[str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dcv"))  # short: dovecot's sockets live under it
        self.port = free_port()
        self.users = users
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> Dovecot:
        owner = pwd.getpwnam("nobody")
        self.dir.chmod(0o755)  # dovecot's own users read the passwd file and the maildirs below
        mail = self.dir / "mail"
        mail.mkdir()
        os.chown(mail, owner.pw_uid, owner.pw_gid)
        (self.dir / "passwd").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in self.users))
        (self.dir / "passwd").chmod(0o644)
        (self.dir / "dovecot.conf").write_text(
            f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = parley-test-{self.port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.dir}/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {owner.pw_uid}
last_valid_uid = {owner.pw_uid}
mail_location = maildir:{mail}/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={mail}/%u
}}
"""
        )
        assert DOVECOT is not None
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.dir / "dovecot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"dovecot exited: {output}{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, PASSWORD)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            status, data = client.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", data
        finally:
            client.logout()

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        client = self.client(user)
        try:
            client.select(folder, readonly=True)
            _, found = client.uid("SEARCH", "ALL")
            out = []
            for uid in (found[0] or b"").split():
                _, parts = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                out.extend(bytes(p[1]) for p in parts if isinstance(p, tuple))
            return out
        finally:
            client.logout()
