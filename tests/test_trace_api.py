"""The trace API through the Flask test client on a real database: GET /api/teams/<id>/events with its filters,
GET /api/events (every team, ordered by (created_at, team_id, seq)), and unknown query parameters refused on
every endpoint that has a query model.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from shared import db, events
from shared.events import NewEvent
from shared.ids import new_id
from tests.support import factories

pytest_plugins = ("tests.support.orchestrator",)


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def refused(response, status=400):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) >= {"error", "message"} and body["message"], body
    return body["message"]


def db_now() -> datetime:
    with db.transaction() as conn:
        return conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]


def emit(team_id: str, *kinds: str, **ids) -> None:
    events.emit([NewEvent(kind, team_id, {"n": i}, **ids) for i, kind in enumerate(kinds)])


def kinds_of(body) -> list[str]:
    return [e["kind"] for e in body["events"]]


def test_team_events_filter_by_kind_prefixes_ids_and_time(client):
    team = factories.create_team("Trace")
    agent = factories.create_agent(team["id"])
    emit(team["id"], "task.created", "task.assigned", "run.queued")
    middle = db_now()
    emit(team["id"], "run.started", "run.finished", "task.updated", agent_id=agent["id"])
    url = f"/api/teams/{team['id']}/events"

    assert kinds_of(ok(client.get(url))) == [
        "task.created", "task.assigned", "run.queued", "run.started", "run.finished", "task.updated"]
    assert kinds_of(ok(client.get(url, query_string={"kind": "task.,run.finished"}))) == [
        "task.created", "task.assigned", "run.finished", "task.updated"], "a value ending with '.' is a prefix"
    assert kinds_of(ok(client.get(url, query_string={"kind": "run."}))) == ["run.queued", "run.started",
                                                                          "run.finished"]
    assert kinds_of(ok(client.get(url, query_string={"kind": "ta."}))) == [], "a prefix is a whole segment's"
    assert kinds_of(ok(client.get(url, query_string={"agent_id": agent["id"]}))) == [
        "run.started", "run.finished", "task.updated"]
    since = ok(client.get(url, query_string={"since": middle.isoformat()}))
    assert kinds_of(since) == ["run.started", "run.finished", "task.updated"]
    until = ok(client.get(url, query_string={"until": middle.isoformat()}))
    assert kinds_of(until) == ["task.created", "task.assigned", "run.queued"]
    # A '+' left unencoded in a query string arrives as a space: the offset still counts.
    raw = f"{url}?since={middle.isoformat().replace('+', '%20')}"
    assert kinds_of(ok(client.get(raw))) == ["run.started", "run.finished", "task.updated"]
    # Without an offset a timestamp is UTC.
    utc_naive = middle.astimezone(UTC).replace(tzinfo=None)
    assert kinds_of(ok(client.get(url, query_string={"since": utc_naive.isoformat()}))) == [
        "run.started", "run.finished", "task.updated"]
    page = ok(client.get(url, query_string={"kind": "task.", "limit": 2}))
    assert kinds_of(page) == ["task.created", "task.assigned"] and page["head"] == 6
    rest = ok(client.get(url, query_string={"kind": "task.", "after": page["next_after"]}))
    assert kinds_of(rest) == ["task.updated"]


@pytest.mark.parametrize("params, named", [
    ({"kind": "task.,Bad Kind"}, "kind"),
    ({"kind": "task"}, "kind"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01T00:00:00Z"}, "until"),
    ({"after": "-1"}, "after"),
    ({"after": str(2**63)}, "after"),
    ({"limit": "0"}, "limit"),
    ({"agent_id": "agent_1"}, "agent_id"),
    ({"kinds": "task."}, "kinds"),
    ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since must be before until"),
])
def test_team_events_refuse_bad_filters_naming_them(client, params, named):
    team = factories.create_team()
    message = refused(client.get(f"/api/teams/{team['id']}/events", query_string=params))
    assert named in message


def test_a_filter_given_twice_is_refused_not_half_applied(client):
    team = factories.create_team()
    assert "kind" in refused(client.get(f"/api/teams/{team['id']}/events?kind=task.&kind=run."))


def test_every_endpoint_with_a_query_model_refuses_an_unknown_parameter_naming_it(client):
    from web.api.openapi import OPERATIONS  # noqa: PLC0415

    team = factories.create_team()
    with_query = [(rule, method) for (rule, method), spec in OPERATIONS.items() if spec.query is not None]
    assert len(with_query) >= 10
    for rule, method in with_query:
        # Well-formed ids (a missing one is only looked up after the query is parsed).
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: team["id"] if m.group(1) == "team_id"
                      else new_id(m.group(1).removesuffix("_id")), rule)
        response = client.open(f"{path}?limit=1&colour=blue", method=method)
        message = refused(response, 400)
        assert "'colour'" in message, (rule, message)
    # The login form of the API token is every route's, never "unknown".
    assert client.get("/api/teams?token=whatever").status_code == 200


def test_the_global_trace_orders_every_team_by_created_at_team_and_cursor(client):
    start = db_now()
    first, second = factories.create_team("One"), factories.create_team("Two")
    emit(first["id"], "task.created")
    emit(second["id"], "task.created", "run.queued")
    emit(first["id"], "run.queued", "run.started")
    emit(second["id"], "chat.message")
    window = {"since": start.isoformat()}

    everything = ok(client.get("/api/events", query_string=window))
    keys = [(e["created_at"], e["team_id"], e["cursor"]) for e in everything["events"]]
    assert len(keys) == 6 and keys == sorted(keys, key=lambda k: (datetime.fromisoformat(k[0]), k[1], k[2]))
    assert [(e["team_id"], e["kind"]) for e in everything["events"]] == [
        (first["id"], "task.created"), (second["id"], "task.created"), (second["id"], "run.queued"),
        (first["id"], "run.queued"), (first["id"], "run.started"), (second["id"], "chat.message")]
    assert everything["order"] == "oldest"

    # Paging by cursor, two at a time, repeats and skips nothing.
    seen, after = [], None
    while True:
        page = ok(client.get("/api/events", query_string={**window, "limit": 2, **({"after": after} if after else {})}))
        if not page["events"]:
            break
        seen += [e["id"] for e in page["events"]]
        after = page["next_after"]
    assert seen == [e["id"] for e in everything["events"]]

    newest = ok(client.get("/api/events", query_string={**window, "order": "newest", "limit": 4}))
    assert [e["id"] for e in newest["events"]] == [e["id"] for e in everything["events"]][::-1][:4]
    older = ok(client.get("/api/events", query_string={**window, "order": "newest",
                                                        "after": newest["next_after"]}))
    assert [e["id"] for e in older["events"]] == [e["id"] for e in everything["events"]][1::-1]

    only = ok(client.get("/api/events", query_string={**window, "team_id": second["id"], "kind": "run.,chat."}))
    assert kinds_of(only) == ["run.queued", "chat.message"]
    # The cursor survives a query string that turned its '+' into a space.
    cursor = everything["events"][2]["global_cursor"]
    spaced = ok(client.get(f"/api/events?since={quote(start.isoformat())}&after={cursor.replace('+', '%20')}"))
    assert [e["id"] for e in spaced["events"]] == [e["id"] for e in everything["events"]][3:]


@pytest.mark.parametrize("after", ["nonsense", "2026-01-01T00:00:00|team|x", "2026-01-01T00:00:00|t|1", "a|b|c|d"])
def test_the_global_trace_refuses_a_cursor_it_did_not_make(client, after):
    assert "after" in refused(client.get("/api/events", query_string={"after": after}))


def test_an_unknown_team_is_404_for_its_events_and_its_log(client):
    missing = "team_01JAAAAAAAAAAAAAAAAAAAAAAA"
    refused(client.get(f"/api/teams/{missing}/events"), 404)
    refused(client.get(f"/api/teams/{missing}/events.jsonl"), 404)
    refused(client.get("/api/teams/nope/events.jsonl"), 404)


# -------------------------------------------------------------------------------- text search and global export


def jsonl(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/jsonl"
    text = response.get_data(as_text=True)
    assert text == "" or text.endswith("\n"), "every line ends with a newline"
    return [json.loads(line) for line in text.splitlines()]


def test_q_finds_events_by_text_in_their_payload_case_insensitively_and_literally(client):
    start = db_now()
    team = factories.create_team("Search")
    events.emit([
        NewEvent("agent.text", team["id"], {"text": "The Zebra crossed"}),
        NewEvent("agent.text", team["id"], {"text": "no stripes here"}),
        NewEvent("agent.text", team["id"], {"text": "100% done_ok"}),
        NewEvent("agent.text", team["id"], {"text": 'she said "hi"'}),
        NewEvent("agent.text", team["id"], {"text": "1000 dones"}),
    ])
    url = f"/api/teams/{team['id']}/events"

    def texts(params) -> list[str]:
        found = ok(client.get(url, query_string=params))["events"]
        return [e["payload"]["text"] for e in found]

    assert texts({"q": "zEBRA"}) == ["The Zebra crossed"]
    assert texts({"q": "0% done_"}) == ["100% done_ok"], "% and _ are literal, not wildcards"
    assert texts({"q": "0_ done"}) == [], "_ matches only an underscore"
    assert texts({"q": 'said "hi"'}) == ['she said "hi"'], "a quote matches though the JSON text escapes it"
    assert len(texts({"q": "TEXT"})) == 5, "the payload's JSON text is searched, its keys included"
    assert texts({"q": "zebra", "kind": "agent.thinking"}) == [], "q narrows what the other filters keep"
    across = ok(client.get("/api/events", query_string={"since": start.isoformat(), "q": "STRIPES"}))
    assert [e["payload"]["text"] for e in across["events"]] == ["no stripes here"]


def test_the_global_trace_exports_as_json_lines_with_its_filters_order_and_cursor(client):
    start = db_now()
    first, second = factories.create_team("Export one"), factories.create_team("Export two")
    agent = factories.create_agent(second["id"])
    emit(first["id"], "task.created", "run.queued")
    emit(second["id"], "task.created", "run.queued", "run.started", agent_id=agent["id"])
    events.emit([NewEvent("chat.message", second["id"], {"content": "export the needle please"})])
    window = {"since": start.isoformat()}

    everything = ok(client.get("/api/events", query_string=window))["events"]
    assert len(everything) == 6
    lines = jsonl(client.get("/api/events.jsonl", query_string=window))
    assert lines == everything, "the export is the trace, every field (global_cursor too), in the same order"

    newest = jsonl(client.get("/api/events.jsonl", query_string={**window, "order": "newest"}))
    assert [e["id"] for e in newest] == [e["id"] for e in everything][::-1]
    after = jsonl(client.get("/api/events.jsonl", query_string={**window, "after": everything[1]["global_cursor"]}))
    assert [e["id"] for e in after] == [e["id"] for e in everything][2:]

    filtered = jsonl(client.get("/api/events.jsonl", query_string={
        **window, "team_id": second["id"], "kind": "run.", "agent_id": agent["id"]}))
    assert [(e["team_id"], e["kind"]) for e in filtered] == [(second["id"], "run.queued"),
                                                             (second["id"], "run.started")]
    searched = jsonl(client.get("/api/events.jsonl", query_string={**window, "q": "NEEDLE"}))
    assert [e["kind"] for e in searched] == ["chat.message"]
    until = jsonl(client.get("/api/events.jsonl", query_string={"since": start.isoformat(),
                                                                 "until": everything[2]["created_at"]}))
    assert [e["id"] for e in until] == [e["id"] for e in everything if e["created_at"] < everything[2]["created_at"]]
    assert jsonl(client.get("/api/events.jsonl", query_string={**window, "run_id": new_id("run")})) == []


def test_the_global_export_streams_many_events_across_batches(client):
    start = db_now()
    team = factories.create_team("Export many")
    total = 2 * events.STREAM_BATCH + 7  # more than two server-side cursor batches
    events.emit([NewEvent("agent.text", team["id"], {"n": i}) for i in range(total)])
    lines = jsonl(client.get("/api/events.jsonl", query_string={"since": start.isoformat(), "team_id": team["id"]}))
    assert [e["payload"]["n"] for e in lines] == list(range(total))


@pytest.mark.parametrize("params, named", [
    ({"q": ""}, "q"),
    ({"q": "x" * 201}, "q"),
    ({"order": "sideways"}, "order"),
    ({"after": "nonsense"}, "after"),
    ({"team_id": "team_1"}, "team_id"),
    ({"kind": "Bad Kind"}, "kind"),
    ({"since": "soon"}, "since"),
    ({"limit": "10"}, "'limit'"),  # the export has no pages
])
def test_the_global_export_refuses_bad_filters_naming_them(client, params, named):
    assert named in refused(client.get("/api/events.jsonl", query_string=params))


def test_the_global_trace_refuses_a_bad_search_naming_q(client):
    assert "q" in refused(client.get("/api/events", query_string={"q": "x" * 201}))
    assert "q" in refused(client.get("/api/events?q=a&q=b"))
