"""web.stream_io's socket wrapper on a real TCP connection over loopback: the hub's non-blocking writes keep frames
whole and in order."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from wsproto.frame_protocol import FrameProtocol

from web.stream_io import LockedSocket, Sent, websocket_frames


@pytest.fixture
def pair() -> Iterator[tuple[LockedSocket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    yield LockedSocket(server, timeout=30), client
    server.close()
    client.close()


def read_messages(client: socket.socket, count: int) -> list[str]:
    """Parse what the client receives as a WebSocket client would (wsproto), until `count` messages."""
    framing = FrameProtocol(client=True, extensions=[])
    messages: list[str] = []
    part = ""
    while len(messages) < count:
        data = client.recv(65536)
        assert data, f"the connection ended after {len(messages)} messages"
        framing.receive_bytes(data)
        for frame in framing.received_frames():  # a long frame arrives in pieces
            part += frame.payload
            if frame.message_finished:
                messages.append(part)
                part = ""
    return messages


def test_a_frame_the_kernel_takes_in_part_is_finished_before_any_later_write(pair):
    sock, client = pair
    texts = [f"{n}:" + "x" * 300 for n in range(2000)]
    results = [sock.try_send(websocket_frames([text])) for text in texts]
    # The kernel takes the first frames at once, part of one, and then nothing more while the rest is pending.
    assert Sent.ALL in results and Sent.PART in results, results
    taken = results.index(Sent.PART) + 1
    assert set(results[taken:]) == {Sent.NOTHING}, results

    reader = threading.Thread(target=lambda: received.extend(read_messages(client, taken + 1)))
    received: list[str] = []
    reader.start()
    sock.send(websocket_frames(["after"]))  # e.g. the stream's writer, or a pong from the reader thread
    reader.join(30)
    assert received == [*texts[:taken], "after"]  # whole, in order, nothing lost nor doubled


def test_flush_sends_the_rest_of_a_partly_written_frame(pair):
    sock, client = pair
    text = "y" * 50_000
    assert sock.try_send(websocket_frames([text])) is Sent.PART
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.extend(read_messages(client, 1)))
    reader.start()
    sock.flush()
    reader.join(30)
    assert received == [text]
    assert sock.try_send(websocket_frames(["next"])) is Sent.ALL  # no tail is left behind


def test_try_send_never_waits_for_a_writer_that_holds_the_socket(pair):
    sock, client = pair
    assert sock.try_send(websocket_frames(["z" * 50_000])) is Sent.PART
    started = threading.Event()

    def writer() -> None:  # blocks in send: the tail first, and the client is not reading yet
        started.set()
        sock.send(websocket_frames(["w"]))

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait(30)
    assert sock.try_send(websocket_frames(["refused"])) is Sent.NOTHING  # busy or a tail pending: never blocks
    received = read_messages(client, 2)
    thread.join(30)
    assert received == ["z" * 50_000, "w"]
