"""Run rules against real PostgreSQL: claim, one active run per agent, order, fencing, reaper, cancel, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from orchestrator.records import runs
from orchestrator.workflows import run_lifecycle
from shared import db, events
from shared.events import Fence, NewEvent, StaleAttempt
from shared.run_queue import ACTOR_NAME, QUEUE_NAME
from tests.support import factories

LEASE = 30.0


@pytest.fixture
def agent(team):
    return factories.create_agent(team["id"], "Lead")


def enqueue(team, agent, prompt="do it", **kw):
    with db.transaction() as conn:
        return runs.enqueue_run(conn, team_id=team["id"], agent_id=agent["id"], prompt=prompt, reason="chat", **kw)


def claim(run_id, owner="w1"):
    with db.transaction() as conn:
        return runs.claim(conn, run_id, owner=owner, host="test", lease_seconds=LEASE)


def run_row(conn, run_id):
    return conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,)).fetchone()


def test_enqueue_writes_the_queue_message_in_the_same_transaction(team, agent, conn):
    run = enqueue(team, agent)
    messages = conn.execute(
        "SELECT message FROM dramatiq.queue WHERE queue_name = %s AND message->'args'->>0 = %s",
        (QUEUE_NAME, run["id"]),
    ).fetchall()
    assert len(messages) == 1 and messages[0]["message"]["actor_name"] == ACTOR_NAME
    assert run["state"] == "queued" and run["attempt"] == 0

    with pytest.raises(RuntimeError), db.transaction() as tx:
        rolled_back = runs.enqueue_run(tx, team_id=team["id"], agent_id=agent["id"], prompt="x", reason="chat")
        raise RuntimeError("rollback")
    assert run_row(conn, rolled_back["id"]) is None
    orphan = conn.execute(
        "SELECT count(*) AS n FROM dramatiq.queue WHERE message->'args'->>0 = %s", (rolled_back["id"],)
    ).fetchone()
    assert orphan["n"] == 0


def test_enqueue_refuses_an_agent_of_another_team(team, agent):
    other = factories.create_team("Other")
    with pytest.raises(LookupError), db.transaction() as conn:
        runs.enqueue_run(conn, team_id=other["id"], agent_id=agent["id"], prompt="x", reason="chat")


def test_claim_is_conditional_and_counts_attempts(team, agent, conn):
    run = enqueue(team, agent)
    claimed, token = claim(run["id"])
    assert claimed["attempt"] == 1 and claimed["state"] == "running" and claimed["owner"] == "w1"
    assert token and runs.hash_token(token) == claimed["token_hash"]
    again, reason = claim(run["id"], owner="w2")
    assert again is None and reason == "run is running"


def test_one_running_run_per_agent_and_queued_runs_keep_their_order(team, agent, conn):
    first, second, third = enqueue(team, agent, "1"), enqueue(team, agent, "2"), enqueue(team, agent, "3")
    claimed, _ = claim(first["id"])
    assert claimed is not None
    blocked, reason = claim(second["id"])
    assert blocked is None and "busy" in reason
    assert run_row(conn, second["id"])["wait_reason"] == reason
    out_of_order, reason = claim(third["id"])
    assert out_of_order is None and ("earlier" in reason or "busy" in reason)

    # The database itself refuses a second running run for the agent, whatever the code does.
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "UPDATE runs SET state = 'running', owner = 'x', lease_until = now() WHERE id = %s", (second["id"],)
        )


def test_finish_and_writes_from_a_stale_attempt_are_refused(team, agent, conn):
    run = enqueue(team, agent)
    claimed, _ = claim(run["id"])
    conn.execute("UPDATE runs SET lease_until = now() - interval '1 second' WHERE id = %s", (run["id"],))
    with db.transaction() as tx:
        run_lifecycle.reap(tx, dead_workers=[], margin=0)
    reclaimed, _ = claim(run["id"], owner="w2")
    assert reclaimed["attempt"] == 2

    with pytest.raises(StaleAttempt):
        events.emit([NewEvent("agent.text", team["id"], {"text": "late"}, run_id=run["id"])],
                    fence=Fence(run["id"], 1))
    with db.transaction() as tx:
        assert runs.renew(tx, run["id"], 1, LEASE) == (False, False)
        assert run_lifecycle.finish(tx, run["id"], 1, state="succeeded", outcome="success") is None
    with db.transaction() as tx:
        assert runs.renew(tx, run["id"], 2, LEASE) == (True, False)
    writer = events.BatchWriter(fence=Fence(run["id"], 1))
    writer.add(NewEvent("agent.text", team["id"], {"text": "late"}, run_id=run["id"]))
    writer.close()
    assert writer.stale
    assert run_row(conn, run["id"])["state"] == "running"


def test_reaper_requeues_expired_runs_and_leaves_live_ones(team, conn):
    live_agent = factories.create_agent(team["id"], "Live", is_lead=False)
    dead_agent = factories.create_agent(team["id"], "Dead", is_lead=False)
    live = enqueue(team, live_agent)
    dead = enqueue(team, dead_agent)
    claim(live["id"])
    claim(dead["id"])
    conn.execute("UPDATE runs SET lease_until = now() - interval '5 seconds' WHERE id = %s", (dead["id"],))
    with db.transaction() as tx:
        reaped = run_lifecycle.reap(tx, dead_workers=[], margin=0)
    # (of this team: the database is shared, and another test's expired run may be taken back too)
    assert [r["id"] for r in reaped if r["team_id"] == team["id"]] == [dead["id"]]
    row = run_row(conn, dead["id"])
    assert (row["state"], row["outcome"], row["attempt"], row["owner"]) == ("queued", "lease_lost", 1, None)
    assert "stopped renewing its lease" in row["error"]
    assert run_row(conn, live["id"])["state"] == "running"
    again, _ = claim(dead["id"], owner="w2")
    assert again["attempt"] == 2


def test_reaper_ends_runs_that_used_their_attempts_or_were_cancelled(team, conn):
    worn = factories.create_agent(team["id"], "Worn", is_lead=False)
    stopped = factories.create_agent(team["id"], "Stopped", is_lead=False)
    worn_run, stopped_run = enqueue(team, worn), enqueue(team, stopped)
    claim(worn_run["id"])
    claim(stopped_run["id"])
    conn.execute("UPDATE runs SET max_attempts = 1 WHERE id = %s", (worn_run["id"],))
    conn.execute("UPDATE runs SET cancel_requested_at = now() WHERE id = %s", (stopped_run["id"],))
    conn.execute("UPDATE runs SET lease_until = now() - interval '1 second' WHERE id = ANY(%s)",
                 ([worn_run["id"], stopped_run["id"]],))
    with db.transaction() as tx:
        run_lifecycle.reap(tx, dead_workers=[], margin=0)
    assert run_row(conn, worn_run["id"])["state"] == "interrupted"
    assert run_row(conn, stopped_run["id"])["state"] == "cancelled"
    assert run_row(conn, worn_run["id"])["ended_at"] is not None


def test_the_reaper_waits_a_margin_past_the_lease_for_the_old_attempt_to_end(team, agent, conn):
    run = enqueue(team, agent)
    claim(run["id"])
    conn.execute("UPDATE runs SET lease_until = now() - interval '2 seconds' WHERE id = %s", (run["id"],))
    with db.transaction() as tx:
        assert [r for r in run_lifecycle.reap(tx, dead_workers=[], margin=5) if r["team_id"] == team["id"]] == [], \
            "still inside the margin: the old attempt may be ending"
    conn.execute("UPDATE runs SET lease_until = now() - interval '6 seconds' WHERE id = %s", (run["id"],))
    with db.transaction() as tx:
        assert [r["id"] for r in run_lifecycle.reap(tx, dead_workers=[], margin=5)
                if r["team_id"] == team["id"]] == [run["id"]]


def test_hand_backs_do_not_use_up_attempts_only_lost_ones_do(team, agent, conn):
    run = enqueue(team, agent)
    conn.execute("UPDATE runs SET max_attempts = 2 WHERE id = %s", (run["id"],))
    for _ in range(3):  # three shutdowns in a row: each hands the run back
        claimed, _ = claim(run["id"])
        with db.transaction() as tx:
            run_lifecycle.finish(tx, run["id"], claimed["attempt"], state="queued", outcome="interrupted",
                        error="the worker shut down")
    claim(run["id"])
    conn.execute("UPDATE runs SET lease_until = now() - interval '1 second' WHERE id = %s", (run["id"],))
    with db.transaction() as tx:
        run_lifecycle.reap(tx, dead_workers=[], margin=0)
    row = run_row(conn, run["id"])
    assert (row["state"], row["attempt"], row["lost_attempts"]) == ("queued", 4, 1), "one lost attempt of two"
    claim(run["id"])
    conn.execute("UPDATE runs SET lease_until = now() - interval '1 second' WHERE id = %s", (run["id"],))
    with db.transaction() as tx:
        run_lifecycle.reap(tx, dead_workers=[], margin=0)
    assert run_row(conn, run["id"])["state"] == "interrupted", "the second lost attempt was its last"


def test_cancel_ends_queued_runs_and_signals_running_ones(team, agent, conn, database_url):
    running, waiting = enqueue(team, agent), enqueue(team, agent)
    claim(running["id"])
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {runs.CONTROL_CHANNEL}")
        with db.transaction() as tx:
            cancelled = run_lifecycle.cancel(tx, "agent", agent["id"])
        notes = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert set(cancelled) == {running["id"], waiting["id"]}
    assert notes == [f"cancel:{running['id']}"]
    assert run_row(conn, waiting["id"])["state"] == "cancelled"
    row = run_row(conn, running["id"])
    assert row["state"] == "running" and row["cancel_requested_at"] is not None
    with db.transaction() as tx:
        assert runs.renew(tx, running["id"], 1, LEASE) == (True, True)


def test_usage_limit_requeue_waits_for_the_reset_then_is_redispatched(team, agent, conn):
    run = enqueue(team, agent)
    claimed, _ = claim(run["id"])
    reset = datetime.now(UTC) + timedelta(hours=1)
    with db.transaction() as tx:
        run_lifecycle.finish(tx, run["id"], 1, state="queued", outcome="usage_limit", error="limit", not_before=reset)
    blocked, reason = claim(run["id"])
    assert blocked is None and reason.startswith("waiting until")
    conn.execute("UPDATE runs SET not_before = now() - interval '1 second' WHERE id = %s", (run["id"],))
    conn.execute("UPDATE dramatiq.queue SET state = 'done' WHERE message->'args'->>0 = %s", (run["id"],))
    with db.transaction() as tx:  # the worker that tried too early acked it: a new message is needed
        assert run["id"] in runs.redispatch_stale(tx)
    with db.transaction() as tx:
        assert run["id"] not in runs.redispatch_stale(tx), "sent once: its new message is waiting"
    conn.execute("UPDATE runs SET dispatched_at = now() - interval '1 minute' WHERE id = %s", (run["id"],))
    with db.transaction() as tx:  # nobody took it (stranded without its NOTIFY): sent again
        assert run["id"] in runs.redispatch_stale(tx)
    claimed_again, _ = claim(run["id"])
    assert claimed_again["attempt"] == 2


def test_agent_tokens_are_valid_only_while_the_run_is_active(team, agent):
    run = enqueue(team, agent)
    claimed, token = claim(run["id"])
    with db.transaction() as conn:
        who = runs.authenticate(conn, token)
        assert (who["run_id"], who["agent_id"], who["team_id"]) == (run["id"], agent["id"], team["id"])
        assert runs.authenticate(conn, token + "x") is None
        assert runs.authenticate(conn, "") is None
        run_lifecycle.finish(conn, run["id"], 1, state="succeeded", outcome="success")
    with db.transaction() as conn:
        assert runs.authenticate(conn, token) is None


def test_queue_view_shows_position_and_wait_reason(team, agent):
    first, second, third = enqueue(team, agent), enqueue(team, agent), enqueue(team, agent)
    claim(first["id"])
    claim(second["id"])
    with db.transaction() as conn:
        view = {r["id"]: r for r in runs.queue_view(conn, team["id"])}
    assert view[first["id"]]["state"] == "running"
    assert (view[second["id"]]["position"], view[third["id"]]["position"]) == (1, 2)
    assert "busy" in view[second["id"]]["wait_reason"]


@pytest.mark.parametrize("url", [
    "postgresql:///gamma_x?host=/tmp/sock&user=postgres",
    "postgresql://postgres:@/gamma_x?host=/tmp/sock",
    "user=postgres dbname=gamma_x host=/tmp/sock",
])
def test_broker_gets_the_database_name_whatever_the_url_form(url):
    from workers.broker import broker_connection_params

    params = broker_connection_params(url, maxconn=9)
    assert (params["dbname"], params["host"], params["maxconn"]) == ("gamma_x", "/tmp/sock", "9")


def test_cancel_all_reaches_every_team(conn):
    teams = [factories.create_team(f"T{i}") for i in range(2)]
    agents = [factories.create_agent(t["id"], "Lead") for t in teams]
    queued = [enqueue(t, a) for t, a in zip(teams, agents, strict=True)]
    with db.transaction() as tx:
        cancelled = run_lifecycle.cancel(tx, "all")
    assert {r["id"] for r in queued} <= set(cancelled)
    assert all(run_row(conn, r["id"])["state"] == "cancelled" for r in queued)


def test_an_ack_through_a_restarted_consumer_is_not_an_error(team, agent, conn, database_url):
    """After a connection error dramatiq replaces a queue's consumer; messages still being processed are acked
    through the new one. dramatiq-pg's own consumer raises KeyError there ("You've found a bug in Dramatiq");
    Gamma's acks them."""
    from dramatiq_pg.broker import PostgresConsumer

    from workers.broker import GammaBroker, broker_connection_params

    enqueue(team, agent)
    broker = GammaBroker(url=broker_connection_params(database_url, maxconn=4), results=False, middleware=[])
    try:
        before = broker.consume(QUEUE_NAME, prefetch=1, timeout=100)
        message = next(m for m in iter(lambda: next(before), "never") if m is not None)
        replaced_by = broker.consume(QUEUE_NAME, prefetch=1, timeout=100)  # what dramatiq does after an error
        replaced_by.ack(message)
        state = conn.execute("SELECT state FROM dramatiq.queue WHERE message_id = %s",
                             (message.message_id,)).fetchone()["state"]
        assert state == "done"
        plain = PostgresConsumer(pool=broker.pool, queue_name=QUEUE_NAME, prefetch=1, timeout=100)
        with pytest.raises(KeyError):
            plain.ack(message)  # the upstream behaviour this works around
    finally:
        before.close()
        replaced_by.close()
        broker.close()
