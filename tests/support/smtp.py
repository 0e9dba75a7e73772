"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time

from aiosmtpd.controller import Controller

from tests.support.server import free_port


class _Handler:
    def __init__(self, inbox: list) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.inbox.append(msg)
        return "250 OK"


class SMTPServer:
    def __init__(self) -> None:
        self.messages: list = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(_Handler(self.messages), hostname="127.0.0.1", port=self.port)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        self.messages.clear()

    def wait_for(self, to: str, timeout: float = 15, subject_contains: str = "") -> object:
        """The first message to `to` (whose subject contains the text), waiting for the worker to send it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in list(self.messages):
                if to.lower() in str(msg["To"]).lower() and subject_contains in str(msg["Subject"]):
                    return msg
            time.sleep(0.05)
        raise AssertionError(f"no email to {to} arrived; got {[str(m['To']) for m in self.messages]}")

    @staticmethod
    def text_of(msg) -> str:
        return msg.get_body(preferencelist=("plain",)).get_content()

    @classmethod
    def token_in(cls, msg) -> str:
        found = re.search(r"token=(plyo_[A-Za-z0-9_-]+)", cls.text_of(msg))
        assert found, cls.text_of(msg)
        return found.group(1)
