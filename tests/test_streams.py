"""Live event streams end to end: real PostgreSQL, real gunicorn processes, real WebSocket clients.

Every stream assertion is "each cursor exactly once, in order" (plus payload ids where writers are involved),
so nothing here depends on how fast the machine is. How soon a disconnected client's handler thread is freed
(~2 s is the claim) is measured by bench/stream_release.py; here it only has to be freed.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import psycopg
import pytest
import requests
import websocket

from shared import db, events
from shared.events import NewEvent
from tests.support import factories
from tests.support.polling import wait_for
from tests.support.processes import Web, running, start_web
from tests.support.streams import (
    Stream,
    StreamClosed,
    assert_exactly_once,
    payload_ids,
    wait_exit,
    writer_command,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web(database_url: str) -> Iterator[Web]:
    with start_web(database_url, extra_env={"GAMMA_WS_HEARTBEAT": "1"}) as server:
        yield server


def emit(team_id: str, n: int, **payload: object) -> list[dict]:
    return events.emit([NewEvent("test.line", team_id, {"n": i, **payload}) for i in range(n)])


def team_url(web: Web, team_id: str, after: int = 0) -> str:
    return f"{web.ws_url}/ws/teams/{team_id}?after={after}"


def stats(web: Web) -> dict:
    return requests.get(f"{web.url}/ws/stats", timeout=10).json()


def handshake_status(url: str, **options: object) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=10, **options)
    return refused.value.status_code


def writer_env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url}


# -- replay, live, reconnect ------------------------------------------------------------------------------


def test_replay_then_live_on_one_socket_and_reconnect_with_cursor(web, team):
    emit(team["id"], 30)
    received: list[dict] = []
    stream = Stream(team_url(web, team["id"]), sink=received)
    stream.read_until(lambda s: s.live, 30)
    assert stream.hello == {"type": "hello", "team_id": team["id"], "cursor": 30, "after": 0}
    assert stream.cursor == 30  # replay complete before the "live" marker

    emit(team["id"], 20)
    stream.read_until_cursor(50)
    stream.close()
    assert_exactly_once(received, 1, 50)
    assert [e["payload"]["n"] for e in received] == list(range(30)) + list(range(20))

    emit(team["id"], 10)
    again = Stream(team_url(web, team["id"], after=50))
    again.read_until_cursor(60)
    assert again.hello["cursor"] == 60
    assert_exactly_once(again.events, 51, 60)
    emit(team["id"], 5)
    again.read_until_cursor(65)
    assert_exactly_once(again.events, 51, 65)
    again.close()

    middle = Stream(team_url(web, team["id"], after=45))
    middle.read_until(lambda s: s.live and s.cursor >= 65, 30)
    assert_exactly_once(middle.events, 46, 65)
    middle.close()


def test_heartbeat_carries_the_cursor_when_silent(web, team):
    emit(team["id"], 3)
    stream = Stream(team_url(web, team["id"]))
    stream.read_until(lambda s: any(f["type"] == "heartbeat" for f in s.frames), 30)
    heartbeat = next(f for f in stream.frames if f["type"] == "heartbeat")
    assert heartbeat == {"type": "heartbeat", "cursor": 3}
    stream.close()


def test_global_stream_carries_team_id_and_cursor(web):
    first, second = factories.create_team("One"), factories.create_team("Two")
    emit(first["id"], 2)
    stream = Stream(f"{web.ws_url}/ws/events")
    stream.read_until(lambda s: s.hello is not None, 30)
    assert stream.hello == {"type": "hello", "team_id": None, "scope": "global"}
    emit(first["id"], 3)
    emit(second["id"], 4)
    mine = {first["id"], second["id"]}

    def seen(s: Stream) -> dict[str, list[int]]:
        by_team: dict[str, list[int]] = defaultdict(list)
        for event in s.events:
            if event["team_id"] in mine:
                by_team[event["team_id"]].append(event["cursor"])
        return by_team

    stream.read_until(lambda s: len(seen(s)[first["id"]]) >= 3 and len(seen(s)[second["id"]]) >= 4, 30)
    assert seen(stream) == {first["id"]: [3, 4, 5], second["id"]: [1, 2, 3, 4]}  # live only: no replay
    stream.close()


# -- concurrency ------------------------------------------------------------------------------------------


def test_eight_writers_in_two_processes_reach_readers_exactly_once_in_cursor_order(web, team, database_url):
    processes, writers, count = 2, 4, 300
    total = processes * writers * count
    early: list[dict] = []
    reader = Stream(team_url(web, team["id"]), sink=early)
    reader.read_until(lambda s: s.live, 30)

    start_at = time.time() + 3.0  # both processes start writing together, after their imports
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(running(
                writer_command(team["id"], writers, count, rate=150, tag=f"p{n}", start_at=start_at),
                env=writer_env(database_url),
            ))
            for n in range(processes)
        ]
        reader.read_until_cursor(total // 4, 120)
        # Join mid-stream, replaying from the start while the writers keep going: the boundary case.
        late = Stream(team_url(web, team["id"], after=0))
        resumed = Stream(team_url(web, team["id"], after=reader.cursor))
        resumed_from = reader.cursor
        wait_exit(procs)

    for stream in (reader, late, resumed):
        stream.read_until_cursor(total, 120)
        stream.close()
    assert_exactly_once(early, 1, total)
    assert_exactly_once(late.events, 1, total)
    assert_exactly_once(resumed.events, resumed_from + 1, total)

    expected = {(f"p{p}-{w}", i) for p in range(processes) for w in range(writers) for i in range(count)}
    ids = payload_ids(early)
    assert len(ids) == len(set(ids)) == total and set(ids) == expected
    assert payload_ids(late.events) == ids  # every reader sees the same order
    by_writer: dict[str, list[int]] = defaultdict(list)
    for writer, i in ids:
        by_writer[writer].append(i)
    assert all(seq == list(range(count)) for seq in by_writer.values())  # each writer's own order is kept
    tags = [writer.split("-")[0] for writer, _ in ids]
    assert sum(a != b for a, b in zip(tags, tags[1:], strict=False)) > 1, "the two processes never interleaved"


# -- failures: the LISTEN connection, the web process -----------------------------------------------------


def test_hub_reconnects_after_pg_terminate_backend_and_the_client_misses_nothing(web, team, database_url, conn):
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    received: list[dict] = []
    stream = Stream(team_url(web, team["id"]), sink=received)
    stream.read_until(lambda s: s.live, 30)
    before = stats(web)["hub"]

    def listening_pid() -> int | None:
        hub = stats(web)["hub"]
        return hub["backend_pid"] if hub["connected"] else None

    def terminate_hub(on: psycopg.Connection) -> int:
        pid = wait_for(listening_pid, what="the hub listening")
        row = on.execute(
            "SELECT application_name, pg_terminate_backend(pid) AS done FROM pg_stat_activity"
            " WHERE pid = %s AND datname = %s", (pid, dbname),
        ).fetchone()
        assert row == {"application_name": "gamma-hub", "done": True}
        return pid

    # 1. While writers keep writing (later NOTIFYs would also cover a gap).
    writers, count = 4, 400
    with running(writer_command(team["id"], writers, count, rate=150, tag="p0"), env=writer_env(database_url)) as p:
        stream.read_until_cursor(150, 120)
        killed = [terminate_hub(conn)]
        stream.read_until_cursor(stream.cursor + 200, 120)
        killed.append(terminate_hub(conn))
        wait_exit([p])
    total = writers * count
    stream.read_until_cursor(total, 120)

    # 2. The last events commit right after the listener died, and nothing follows them: only the hub's
    #    catch-up after re-LISTEN can deliver them. (Retried in the rare case the hub re-listened first.)
    for _ in range(5):
        caught_up = stats(web)["hub"]["caught_up_events"]
        with db.transaction() as tx:
            killed.append(terminate_hub(tx))
            events.append(tx, [NewEvent("test.line", team["id"], {"n": i}) for i in range(3)])
        total += 3
        stream.read_until_cursor(total, 60)
        if stats(web)["hub"]["caught_up_events"] > caught_up:
            break
    else:
        pytest.fail("the hub never had to catch up: could not produce the gap")
    stream.close()

    assert_exactly_once(received, 1, total)
    expected = {(f"p0-{w}", i) for w in range(writers) for i in range(count)}
    assert {(e["payload"]["w"], e["payload"]["i"]) for e in received if "w" in e["payload"]} == expected
    after = stats(web)["hub"]
    assert after["connects"] >= before["connects"] + len(killed)
    assert after["backend_pid"] not in killed


def test_sigkill_of_the_web_mid_stream_then_a_new_web_loses_and_repeats_nothing(database_url, team):
    received: list[dict] = []
    writers, count = 2, 600
    total = writers * count
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(start_web(database_url))
        stream = Stream(team_url(first, team["id"]), sink=received)
        stream.read_until(lambda s: s.live, 30)
        writer = stack.enter_context(running(
            writer_command(team["id"], writers, count, rate=200, tag="p0"), env=writer_env(database_url)
        ))
        stream.read_until_cursor(150, 120)
        first.proc.kill()  # SIGKILL to gunicorn's whole process group: master and worker
        with pytest.raises(StreamClosed) as dropped:
            stream.read_until_cursor(total, 60)
        assert dropped.value.code is None  # a dead server sends no close frame
        cut = stream.cursor
        assert 0 < cut < total

        second = stack.enter_context(start_web(database_url))
        resumed = Stream(team_url(second, team["id"], after=cut), sink=received)
        wait_exit([writer])
        resumed.read_until_cursor(total, 120)
        resumed.close()
    assert_exactly_once(received, 1, total)
    assert len(set(payload_ids(received))) == total


def test_sigterm_closes_streams_with_1012_so_clients_reconnect(database_url, team):
    emit(team["id"], 2)
    with start_web(database_url) as server:
        team_stream = Stream(team_url(server, team["id"]))
        team_stream.read_until(lambda s: s.live, 30)
        dashboard = Stream(f"{server.ws_url}/ws/events")
        dashboard.read_until(lambda s: s.hello is not None, 30)
        server.proc.popen.send_signal(signal.SIGTERM)  # to the master, which stops its worker gracefully
        for stream in (team_stream, dashboard):
            with pytest.raises(StreamClosed) as closed:
                stream.read_until(lambda s: False, 30)
            assert closed.value.code == 1012


# -- clients that cannot keep up, clients that leave ------------------------------------------------------


def test_slow_client_is_closed_with_1013_and_resumes_from_its_cursor(database_url, team):
    env = {"GAMMA_WS_MAX_PENDING": "200", "GAMMA_WS_SEND_TIMEOUT": "300"}
    with start_web(database_url, extra_env=env) as server:
        received: list[dict] = []
        slow = Stream(team_url(server, team["id"]), sink=received,
                      sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 16384),))
        slow.read_until(lambda s: s.live, 30)
        # It stops reading: ~24 MB of events fill the kernel buffers, then its queue passes 200 events.
        for _ in range(30):
            emit(team["id"], 100, pad="x" * 8000)
        wait_for(lambda: stats(server)["hub"]["overflows"] >= 1, timeout=120, interval=0.2,
                 what=lambda: f"an overflow ({stats(server)})")
        with pytest.raises(StreamClosed) as closed:
            slow.read_until(lambda s: False, 120)  # now it reads what was sent, then the close frame
        assert (closed.value.code, closed.value.reason) == (1013, "too slow: reconnect with your cursor")
        cut = slow.cursor
        assert 0 < cut < 3000
        resumed = Stream(team_url(server, team["id"], after=cut), sink=received)
        resumed.read_until_cursor(3000, 120)
        resumed.close()
    assert_exactly_once(received, 1, 3000)


def test_client_that_never_reads_is_cut_off_and_frees_its_thread(database_url, team):
    env = {"GAMMA_WS_MAX_PENDING": "200", "GAMMA_WS_SEND_TIMEOUT": "2"}
    with start_web(database_url, extra_env=env) as server:
        stuck = Stream(team_url(server, team["id"]), sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 16384),))
        stuck.read_until(lambda s: s.live, 30)
        assert stats(server)["streams"] == 1
        for _ in range(30):
            emit(team["id"], 100, pad="x" * 8000)
        # Blocked in a send for longer than GAMMA_WS_SEND_TIMEOUT: the server cuts the connection.
        wait_for(lambda: stats(server)["streams"] == 0, timeout=120, interval=0.2,
                 what=lambda: f"no stream open ({stats(server)})")
        assert stats(server)["hub"]["subscribers"] == 0
        stuck.ws.shutdown()


def test_a_disconnected_clients_handler_is_freed(web, team):
    """Closed or dropped, a client's stream slot (its handler thread) is given back; bench/stream_release.py
    measures how soon (the claim: within ~2 s, POLL_SECONDS after the client went away)."""
    wait_for(lambda: stats(web)["streams"] == 0, what="streams of earlier tests closed")
    streams = [Stream(team_url(web, team["id"])) for _ in range(3)] + [Stream(f"{web.ws_url}/ws/events")]
    for stream in streams:
        stream.read_until(lambda s: s.hello is not None, 30)
    wait_for(lambda: stats(web)["streams"] == 4, what="4 open streams")

    for open_before, how, stream in ((4, "close frame", streams[0]), (3, "dropped", streams[1])):
        if how == "close frame":
            stream.close()
        else:
            stream.ws.shutdown()  # the TCP connection goes away without a WebSocket close
        wait_for(lambda n=open_before: stats(web)["streams"] < n, what=f"the handler freed after a {how}")
    assert stats(web)["streams"] == 2  # the two that are still connected keep theirs
    for stream in streams[2:]:
        stream.close()


# -- who may connect --------------------------------------------------------------------------------------


def test_handshake_refuses_unknown_teams_and_bad_cursors(web, team):
    emit(team["id"], 2)
    missing = "team_" + "0" * 26
    assert handshake_status(team_url(web, missing)) == 404
    assert handshake_status(f"{web.ws_url}/ws/teams/not-a-team") == 404
    for bad in ("-1", "abc", "1.5", "", "9" * 30):
        assert handshake_status(f"{web.ws_url}/ws/teams/{team['id']}?after={bad}") == 400, bad
    assert handshake_status(team_url(web, team["id"], after=3)) == 409  # beyond the head (2)


def test_cross_site_websocket_upgrade_is_refused(web, team):
    evil = {"origin": "http://evil.example"}
    assert handshake_status(team_url(web, team["id"]), **evil) == 403
    assert handshake_status(f"{web.ws_url}/ws/events", **evil) == 403
    same_site = Stream(team_url(web, team["id"]), origin=web.url)
    same_site.read_until(lambda s: s.live, 30)
    same_site.close()


API_TOKEN = "s3cret-token-long-enough-for-the-minimum-length"  # GAMMA_API_TOKEN takes 32+ characters


def test_with_an_api_token_a_websocket_without_it_is_refused(database_url, team):
    with start_web(database_url, extra_env={"GAMMA_API_TOKEN": API_TOKEN}) as server:
        url = team_url(server, team["id"])
        assert handshake_status(url) == 401
        assert handshake_status(f"{server.ws_url}/ws/events") == 401
        assert handshake_status(url, header=["Authorization: Bearer wrong"]) == 401
        for stream in (Stream(url, header=["Authorization: Bearer " + API_TOKEN]),
                       Stream(url + "&token=" + API_TOKEN)):
            stream.read_until(lambda s: s.live, 30)
            stream.close()


def test_events_written_in_one_transaction_with_state_arrive_together(web, team):
    """A batch appended in one transaction (one NOTIFY) reaches the client as one frame."""
    stream = Stream(team_url(web, team["id"]))
    stream.read_until(lambda s: s.live, 30)
    with db.transaction() as conn:
        events.append(conn, [NewEvent("test.line", team["id"], {"n": i}) for i in range(7)])
    stream.read_until_cursor(7, 30)
    frames = [f for f in stream.frames if f["type"] == "events"]
    assert [len(f["events"]) for f in frames] == [7] and frames[0]["cursor"] == 7
    stream.close()


def test_a_clients_offer_of_compression_is_declined_and_frames_arrive_plain(web, team):
    # Browsers offer permessage-deflate; declining it lets the hub frame a page once for every viewer.
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"
    stream = Stream(team_url(web, team["id"]), header=[offer])
    assert "sec-websocket-extensions" not in {name.lower() for name in stream.ws.getheaders()}
    stream.read_until(lambda s: s.live, 30)
    emit(team["id"], 5)
    stream.read_until_cursor(5, 30)  # websocket-client cannot read compressed frames: these are plain
    assert_exactly_once(stream.events, 1, 5)
    stream.close()


def test_the_hub_writes_pages_itself_and_a_viewer_that_stalls_catches_up_losing_nothing(web, team):
    """While a viewer keeps up the hub writes each page to its socket itself; one that stops reading has the
    rest of a frame and then its pages left to its own writer, and still gets every event once, in order."""
    before = stats(web)["hub"]
    keeping_up = Stream(team_url(web, team["id"]))
    stalled = Stream(team_url(web, team["id"]), sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 16384),))
    for stream in (keeping_up, stalled):
        stream.read_until(lambda s: s.live, 30)
    total = 3000
    reader = threading.Thread(target=keeping_up.read_until_cursor, args=(total, 120))
    reader.start()
    for _ in range(total // 100):  # 12 MB: more than the stalled viewer's socket buffers hold
        emit(team["id"], 100, pad="x" * 4000)
    reader.join()
    stalled.read_until_cursor(total, 120)
    assert_exactly_once(keeping_up.events, 1, total)
    assert_exactly_once(stalled.events, 1, total)
    after = stats(web)["hub"]
    assert after["pages_written_by_hub"] > before["pages_written_by_hub"]
    assert after["pages_queued_for_writers"] > before["pages_queued_for_writers"]
    keeping_up.close()
    stalled.close()


def test_no_heartbeat_while_the_hub_is_writing_events(web, team):
    stream = Stream(team_url(web, team["id"]))
    stream.read_until(lambda s: s.live, 30)
    started = time.monotonic()
    count = 0
    while time.monotonic() - started < 4:  # four heartbeat periods (GAMMA_WS_HEARTBEAT=1) of steady events
        count += 1
        emit(team["id"], 1)
        stream.read_until_cursor(count, 30)
        time.sleep(0.05)
    # Counting only the writer's own frames it would send one a second (4 here); a single one may come from a
    # stall of over a second on a loaded machine, which is a silence.
    assert len([f for f in stream.frames if f["type"] == "heartbeat"]) <= 1, stream.frames[-5:]
    stream.close()


def test_messages_from_the_client_are_ignored(web, team):
    stream = Stream(team_url(web, team["id"]))
    stream.read_until(lambda s: s.live, 30)
    for _ in range(100):
        stream.ws.send('{"type":"whatever"}')
    emit(team["id"], 2)
    stream.read_until_cursor(2, 30)
    assert_exactly_once(stream.events, 1, 2)
    stream.close()
