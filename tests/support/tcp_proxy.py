"""A TCP forwarder in front of a test server (SMTP here) that can be told to hold new connections:
accepted, never answered, until released — a server that hangs, for as long as a test needs."""

from __future__ import annotations

import socket
import threading


class HoldingProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.holding = threading.Event()
        self.held: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)

    def start(self) -> HoldingProxy:
        self._thread.start()
        return self

    def hold(self) -> None:
        self.holding.set()

    def release(self) -> None:
        """Forward again; the held connections are closed (their clients see the server go away)."""
        self.holding.clear()
        for conn in self.held:
            conn.close()
        self.held.clear()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.holding.is_set():
                self.held.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._closed = True
        self.release()
        self.listener.close()
