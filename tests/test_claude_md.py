"""The generated CLAUDE.md: identity, persona, live roster and tasks, tools, protocol; nothing that goes stale."""

from __future__ import annotations

import re
import shlex

from orchestrator.records import workspaces as workspace
from orchestrator.workflows import agent_context as claude_md
from orchestrator.workflows import delegation as tasks
from orchestrator.workflows.delegation import TaskSpec
from shared import db
from shared.config import get_settings
from tests.support.crew import row, start
from workers import agent_cli

pytest_plugins = ("tests.support.orchestrator",)


def render(agent_id):
    with db.transaction() as conn:
        return claude_md.render(conn, agent_id)


def test_the_lead_gets_identity_persona_roster_tools_and_the_lead_protocol(crew):
    text = render(crew.lead["id"])
    assert text.startswith("# ") and "You are **Lead**" in text and "You lead team **Crew**" in text
    assert "## Your role" in text and "(No persona" not in text  # the tech-lead persona is inlined
    assert "| Alice | Backend Architect" in text and "| Bob | Frontend Engineer" in text
    assert "gamma-agent plan FILE" in text and "gamma-agent done --summary S" in text
    assert "Do not busy-wait" in text and "Do not do members' work" in text
    assert "[SYSTEM] Round completed" in text and "End your turn after delegating" in text


def test_a_member_gets_its_live_tasks_statuses_and_the_member_protocol(crew):
    with db.transaction() as conn:
        (task,) = tasks.create(conn, crew.team_id, [TaskSpec("Design the schema", assignee="Alice")])
    start(crew.alice["id"])
    text = render(crew.alice["id"])
    assert "led by **Lead**" in text
    assert f"`{task['id']}` [in_progress] Design the schema" in text
    assert re.search(r"\| Alice — you \| .*\| running \| Design the schema \|", text)
    assert "Report with real content" in text and "gamma-agent plan" not in text
    assert "gamma-agent msg broadcast" not in text


def test_nothing_in_it_goes_stale_no_url_no_token_no_team_id(crew):
    text = render(crew.alice["id"])
    assert "http://" not in text and "https://" not in text
    assert crew.team_id not in text.replace(str(workspace.team_dir(crew.team_id)), "")
    assert "$GAMMA_AGENT_TOKEN" in text and "$GAMMA_API_URL" in text


def test_it_is_written_into_the_workspace_outside_the_repo(crew):
    with db.transaction() as conn:
        path = claude_md.write_claude_md(conn, crew.bob["id"])
    assert path == workspace.agent_dir(crew.team_id, crew.bob["id"]) / "CLAUDE.md"
    assert path.read_text() == render(crew.bob["id"])
    assert get_settings().workspaces_dir in path.parents
    assert "/work/main" not in str(path.parent) or get_settings().home.as_posix().startswith("/tmp")
    for sub in ("project", "plans", "shared", f"agents/{crew.bob['id']}/notes"):
        assert (workspace.team_dir(crew.team_id) / sub).is_dir()
    assert row("agents", crew.bob["id"])["claude_md_hash"]


def test_every_command_it_teaches_parses_with_gamma_agent():
    parser = agent_cli.build_parser()
    for block in (claude_md.LEAD_COMMANDS, claude_md.MEMBER_COMMANDS):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("gamma-agent"):
                continue
            # Turn the synopsis into a concrete call: drop [optional] parts, fill placeholders.
            concrete = re.sub(r"\[[^\]]*\]", "", line)
            concrete = concrete.replace("FILE", "plan.json").replace("TEXT", "hello").replace("--status S",
                                                                                                 "--status done")
            args = shlex.split(concrete)[1:]
            parsed = parser.parse_args(args)
            key = parsed.command if getattr(parsed, "action", None) is None else f"{parsed.command} {parsed.action}"
            assert key in agent_cli.HANDLERS, line
