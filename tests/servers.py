"""A real uvicorn server on a free loopback port, for tests that speak HTTP for real."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from tests.helpers import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app: FastAPI, ready_path: str = "/healthz") -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not thread.is_alive():
            raise RuntimeError(f"test server on {url} stopped before it was ready")
        try:
            return httpx.get(url + ready_path, timeout=5).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(ready, 60, what=f"the test server on {url} to start")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
