"""Messages between agents reach their agent (issue 10): the recipient's next prompt carries the messages
themselves, each delivered to exactly one run (a resumed attempt of that run sees them again); a message that
asks for an answer wakes an idle recipient — one run, however many arrive; a busy one gets them next."""

from __future__ import annotations

from orchestrator.records import runs
from orchestrator.workflows import conversation, run_lifecycle
from orchestrator.workflows import delegation as tasks
from orchestrator.workflows.delegation import TaskSpec
from shared import db
from tests.support.crew import actor_of, event_kinds, finish, queued, row, start

pytest_plugins = ("tests.support.orchestrator",)


def launch(agent_id: str):
    """Claim the agent's next queued run and start it as the executor does; returns (run, its prompt)."""
    (waiting, *_) = queued(agent_id)
    with db.transaction() as conn:
        run, _token = runs.claim(conn, waiting["id"], owner="test-worker", host="test", lease_seconds=300)
        assert run is not None
        return run, run_lifecycle.start(conn, run).prompt


def lead_says(crew, to: str, text: str, *, ask: bool = False):
    with db.transaction() as conn:
        conversation.post_user_message(conn, crew.team_id, "coordinate")
    lead_run, _ = start(crew.lead["id"])
    with db.transaction() as conn:
        sent = conversation.send(conn, actor_of(lead_run), to, text, ask=ask)
    return lead_run, sent


def test_the_next_prompt_carries_the_message_once_and_a_resumed_attempt_again(crew):
    lead_run, sent = lead_says(crew, "Alice", "Use port 8080 for the API")
    assert sent["woke_run_id"] is None and queued(crew.alice["id"]) == [], "a plain message wakes nobody"
    with db.transaction() as conn:
        tasks.create(conn, crew.team_id, [TaskSpec("Write the API", assignee="Alice")], actor_of(lead_run))
    run, prompt = launch(crew.alice["id"])
    assert prompt.startswith("[TASK]") and "[MESSAGES]" in prompt
    assert "from Lead" in prompt and "Use port 8080 for the API" in prompt
    assert "message.delivered" in event_kinds(crew.team_id, run_id=run["id"])
    with db.transaction() as conn:
        assert conversation.read_inbox(conn, crew.alice["id"])["count"] == 0, "delivered means read"
        # The worker died: attempt 2 of the same run resumes and is handed the same message again.
        conn.execute("UPDATE runs SET lease_until = now() - interval '1 hour' WHERE id = %s", (run["id"],))
        run_lifecycle.reap(conn, dead_workers=[], margin=1800)  # only runs expired this long: ours
    again, prompt_2 = launch(crew.alice["id"])
    assert (again["id"], again["attempt"]) == (run["id"], 2)
    assert "Use port 8080 for the API" in prompt_2
    finish(again)
    with db.transaction() as conn:
        tasks.create(conn, crew.team_id, [TaskSpec("Write the docs", assignee="Alice")], actor_of(lead_run))
    next_run, prompt_3 = launch(crew.alice["id"])
    assert "Use port 8080" not in prompt_3 and "[MESSAGES]" not in prompt_3, "never to another run"
    finish(next_run)  # a test leaves no run running (the database is shared)


def test_a_question_wakes_an_idle_recipient_once_however_many_arrive(crew):
    lead_run, first = lead_says(crew, "Bob", "Which CSS framework?", ask=True)
    assert first["woke_run_id"] is not None
    with db.transaction() as conn:
        second = conversation.send(conn, actor_of(lead_run), "Bob", "And which font?", ask=True)
    assert second["woke_run_id"] is None, "one run however many questions"
    (waiting,) = queued(crew.bob["id"])
    assert (waiting["id"], waiting["reason"]) == (first["woke_run_id"], "message")
    assert row("agents", crew.bob["id"])["status"] == "queued"
    bob_run, prompt = launch(crew.bob["id"])
    assert "Which CSS framework?" in prompt and "And which font?" in prompt and "(asks for an answer)" in prompt
    finish(bob_run)


def test_a_busy_recipient_gets_the_question_in_its_next_run(crew):
    with db.transaction() as conn:
        tasks.create(conn, crew.team_id, [TaskSpec("Long job", assignee="Alice")])
    busy, _ = start(crew.alice["id"])
    _lead_run, sent = lead_says(crew, "Alice", "Are you done soon?", ask=True)
    (next_run,) = queued(crew.alice["id"])
    assert next_run["id"] == sent["woke_run_id"]
    finish(busy)
    alice_run, prompt = launch(crew.alice["id"])
    assert "Are you done soon?" in prompt
    finish(alice_run)
