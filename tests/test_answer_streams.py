"""The lead's answer streams: its chat message exists from the run's first text and grows with it (as events),
and is final when the run ends — with the real claude CLI and the model double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.cli]


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("answer-stack")) as running, running.worker():
        yield running


def test_the_answer_exists_from_the_first_text_grows_and_is_final_at_the_end(stack: Stack):
    team_id = stack.create_team()["id"]
    # The brain says a sentence and runs a command (turn 1), then answers (turn 2): two texts in one run.
    run = stack.wait_run(stack.say(team_id, "[[brain:write_file path=notes.txt]] Write a note"))
    assert run["state"] == "succeeded", run["error"]

    log = stack.events(team_id, run_id=run["id"])
    kinds = [e["kind"] for e in log]
    answers = [e for e in log if e["kind"] in ("chat.message", "chat.updated") and e["payload"]["kind"] == "answer"]
    assert answers, kinds
    first = answers[0]
    assert first["kind"] == "chat.message" and first["payload"]["final"] is False
    assert first["payload"]["content"].startswith("I'll run a command and write")
    assert log.index(first) < kinds.index("run.finished"), "the answer existed while the run ran"
    assert "Done. I wrote" not in first["payload"]["content"], "it began with the first text alone"
    assert all(e["payload"]["id"] == first["payload"]["id"] for e in answers), "one message, grown in place"
    grown = [e["payload"]["content"] for e in answers]
    assert any("Done. I wrote" in c and "I'll run a command" in c for c in grown[:-1]), grown
    last = answers[-1]
    assert last["kind"] == "chat.updated" and last["payload"]["final"] is True
    assert last["payload"]["content"] == run["result_text"].strip()

    messages = stack.api("GET", f"/api/teams/{team_id}/messages").json()["messages"]
    mine = [m for m in messages if m["run_id"] == run["id"] and m["kind"] == "answer"]
    assert len(mine) == 1 and mine[0]["final"] is True and mine[0]["content"] == run["result_text"].strip()
