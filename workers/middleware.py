"""Dramatiq middleware: carry the request id of whoever enqueued a job into that job's log lines."""

from __future__ import annotations

import threading

import dramatiq

from parley.logs import request_id_var

_local = threading.local()


class RequestIdMiddleware(dramatiq.Middleware):
    def before_enqueue(self, broker, message, delay):
        rid = request_id_var.get()
        if rid and "request_id" not in message.options:
            message.options["request_id"] = rid

    def before_process_message(self, broker, message):
        # Async actors run on the loop thread, but their task is created in a context copied from
        # this worker thread, so the value set here reaches them.
        _local.token = request_id_var.set(message.options.get("request_id"))

    def after_process_message(self, broker, message, *, result=None, exception=None):
        token = getattr(_local, "token", None)
        _local.token = None
        if token is not None:
            request_id_var.reset(token)

    after_skip_message = after_process_message
