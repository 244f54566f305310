"""The chaos bench's fault proxy forwards faithfully when it injects nothing."""

from __future__ import annotations

import socket
import threading

from tests.fixtures.faultproxy import FaultProxy


def _upstream(received: list[bytes]) -> tuple[socket.socket, str]:
    """A one-request HTTP server that records what reached it and answers 200."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while not data.endswith(b"hello"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            received.append(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_put_expecting_100_continue_gets_it_before_sending_its_body() -> None:
    received: list[bytes] = []
    listener, upstream = _upstream(received)
    with listener, FaultProxy(upstream, rate=0.0) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        with client:
            client.sendall(
                b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            # botocore waits up to 1 s for this before sending the body anyway: without it
            # every PUT through the proxy took a second longer than on the real server.
            assert client.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
            client.sendall(b"hello")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert len(received) == 1 and received[0].endswith(b"\r\n\r\nhello")
    assert b"expect:" not in received[0].lower()
