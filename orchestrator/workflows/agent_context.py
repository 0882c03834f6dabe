"""The agent's CLAUDE.md, regenerated before every run: identity, persona, live roster, its tasks, the tools and
the protocol. It holds no URL and no token: `gamma-agent` reads GAMMA_API_URL and GAMMA_AGENT_TOKEN from the
run's environment, so nothing in the file goes stale between runs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import psycopg

from orchestrator.records import agents, inbox, tasks, teams, workspaces
from orchestrator.workflows.views import find_role

FILE_NAME = "CLAUDE.md"

COMMON_COMMANDS = """\
gamma-agent whoami                                  # who you are: agent, team, run, current task
gamma-agent task get TASK_ID                        # one task with its full result
gamma-agent tasks [--mine] [--status S]             # the team's tasks (S: backlog, in_progress, review, done, ...)
gamma-agent task done TASK_ID --summary S [--files a,b]   # (a member's task then waits for the lead's review)
gamma-agent task fail TASK_ID --reason R
gamma-agent task review TASK_ID [--message M]       # ask the lead to review
gamma-agent task block TASK_ID --reason R           # you cannot go on without someone else
gamma-agent task update TASK_ID --status S [--summary S] [--message M]
gamma-agent msg send NAME TEXT                      # message a teammate (by exact name)
gamma-agent msg read                                # your unread messages (each is returned once)
gamma-agent team                                    # teammates with live status
gamma-agent context                                 # team, workspace paths, task counts, finished results
gamma-agent status TEXT [--blocker B]               # progress note; a blocker also goes to the lead"""

LEAD_COMMANDS = """\
gamma-agent task create --title T --assignee NAME [--description D] [--kind K] [--priority N]
gamma-agent plan FILE                               # FILE (or - for stdin): JSON list of tasks, e.g.
    # [{"title": "...", "assignee": "NAME", "description": "...", "kind": "backend", "priority": 1}]
gamma-agent task assign TASK_ID NAME                # give a task that has not started to someone else
gamma-agent task cancel TASK_ID --reason R
gamma-agent msg broadcast TEXT                      # message every teammate
gamma-agent done --summary S                        # the user's goal is met (open tasks stay as they are)"""

MEMBER_EXTRA = """\
gamma-agent task create --title T [--description D] # a task for yourself (only the lead assigns others)"""

LEAD_PROTOCOL = """\
You coordinate; your teammates execute.

1. **Plan.** Break the user's goal into concrete tasks, each with a clear deliverable, acceptance criteria and
   the paths it should produce under `project/`. Write larger plans to `plans/`.
2. **Delegate.** Give every task to the best-suited teammate by exact name (`gamma-agent task create
   --assignee NAME …`, or several at once with `gamma-agent plan`). Do not do members' work yourself, never
   simulate or role-play a teammate, and do not use sub-agent tools to do their work. Light coordination
   (reading files, writing plans) is fine.
3. **End your turn after delegating** with a short status line for the user. Do not busy-wait: no `sleep`
   loops, no polling `gamma-agent tasks`, no waiting for results in the same turn. Gamma wakes you with a
   message that starts with `[SYSTEM] Round completed` once every task of the round is settled.
4. **Review on wake.** Run `gamma-agent task get TASK_ID` for every listed task and read the full result.
   Approve (`gamma-agent task update TASK_ID --status done`), ask for changes (`gamma-agent task update TASK_ID
   --status in_progress --message "what to fix"`) or reject (`gamma-agent task fail TASK_ID --reason R`). If a
   result is empty or looks like a stub, ask the member (`gamma-agent msg send NAME …`) rather than guess.
5. **Answer the user** with the consolidated outcome — real content, never titles alone. When the goal is met,
   run `gamma-agent done --summary "…"`."""

MEMBER_PROTOCOL = """\
1. Work on the task in your prompt (its id is in the first line) and stay within its scope. Put deliverables in
   the shared `project/` folder unless the task says otherwise.
2. **Report with real content.** Finish with `gamma-agent task done TASK_ID --summary "…"`: the task goes to the
   lead for review, and the lead reads this summary, so include what you did, the findings and decisions, and
   the paths of the files you wrote. "Done" alone is useless. Only the lead approves work.
3. Blocked by something only someone else can resolve: `gamma-agent task block TASK_ID --reason "…"`, then end
   your turn. Cannot do it at all: `gamma-agent task fail TASK_ID --reason "…"`.
4. Questions for a teammate: `gamma-agent msg send NAME "…"`. Read your inbox first when it has messages.
5. Only the lead assigns work to others; you may create tasks for yourself."""


def render(conn: psycopg.Connection, agent_id: str) -> str:
    agent = agents.get(conn, agent_id)
    team = teams.get(conn, agent["team_id"])
    role = find_role(agent["role_id"])
    role_name = role.name if role is not None else agent["role_id"]
    members = agents.roster(conn, agent["team_id"])
    lead = next((m for m in members if m["is_lead"]), None)
    own_tasks = tasks.open_of_agent(conn, agent_id)
    unread = inbox.unread_count(conn, agent_id)
    paths = workspaces.paths(agent["team_id"], agent_id)
    is_lead = agent["is_lead"]

    parts = [f"# {agent['emoji']} {agent['name']} — {role_name} · team \"{team['name']}\"",
             "> Generated by Gamma before each of your runs; edits here are overwritten. Keep notes in `notes/`.",
             "## Who you are"]
    who = f"You are **{agent['name']}**, {role_name}"
    who += f" ({agent['specialization']})." if agent["specialization"] else "."
    if is_lead:
        who += (f" You lead team **{team['name']}**: you plan the user's goals, delegate them to your teammates, "
                "review their results and answer the user.")
    else:
        lead_name = lead["name"] if lead else "nobody (the team has no lead)"
        who += (f" You are a member of team **{team['name']}**, led by **{lead_name}**. You do the tasks "
                "assigned to you and report their results.")
    parts.append(who)
    parts += ["## Your role", (role.body.strip() if role is not None and role.body else
                               f"(No persona: role `{agent['role_id']}` is not in the role library.)")]
    parts += ["## Your team", team["description"].strip() or "(no team description)", _roster_table(members, agent_id)]
    parts += ["## Your open tasks", _task_lines(own_tasks)]
    if unread:
        parts.append(f"You have **{unread} unread message(s)**: read them first with `gamma-agent msg read`.")
    parts += ["## Workspace",
              f"- Your directory (cwd): `{paths['home']}` — personal notes go in `{paths['notes']}`.\n"
              f"- Shared project (the team's deliverables): `{paths['project']}`\n"
              f"- Plans and reviews: `{paths['plans']}`\n"
              f"- Team knowledge: `{paths['shared']}`\n"
              "Use these absolute paths; do not write elsewhere."]
    commands = COMMON_COMMANDS + "\n" + (LEAD_COMMANDS if is_lead else MEMBER_EXTRA)
    parts += ["## Talking to Gamma: `gamma-agent`",
              "`gamma-agent` is on your PATH and already knows who you are (this run's GAMMA_API_URL and "
              "GAMMA_AGENT_TOKEN are in your environment). It prints JSON; quote arguments that contain spaces, "
              "or pass `-` to read a long text from stdin.",
              f"```sh\n{commands}\n```",
              "curl works too: `curl -s -H \"Authorization: Bearer $GAMMA_AGENT_TOKEN\" "
              "\"$GAMMA_API_URL/agent/v1/tasks\"`."]
    parts += ["## Protocol" + (" (lead)" if is_lead else ""), LEAD_PROTOCOL if is_lead else MEMBER_PROTOCOL]
    return "\n\n".join(parts) + "\n"


def write_claude_md(conn: psycopg.Connection, agent_id: str) -> Path:
    """Regenerate the agent's CLAUDE.md in its workspace (atomically) and remember its hash."""
    agent = agents.get(conn, agent_id)
    directory = workspaces.ensure_agent_workspace(agent["team_id"], agent_id)
    text = render(conn, agent_id)
    path = directory / FILE_NAME
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    if digest != agent["claude_md_hash"]:
        agents.remember_claude_md(conn, agent_id, digest)
    return path


def _roster_table(members: list[dict[str, Any]], me: str) -> str:
    rows = ["| Name | Role | Good at | Status | Working on |", "|---|---|---|---|---|"]
    for member in members:
        role = find_role(member["role_id"])
        name = member["name"] + (" (lead)" if member["is_lead"] else "") + (" — you" if member["id"] == me else "")
        role_name = role.name if role is not None else member["role_id"]
        if member["specialization"]:
            role_name += f": {_cell(member['specialization'], 80)}"
        kinds = ", ".join(role.task_kinds) if role is not None and getattr(role, "task_kinds", None) else "generic"
        rows.append(f"| {_cell(name, 60)} | {_cell(role_name, 120)} | {kinds} | {member['status']} | "
                    f"{_cell(member['working_on'] or '—', 80)} |")
    return "\n".join(rows)


def _task_lines(tasks: list[dict[str, Any]]) -> str:
    if not tasks:
        return "None right now."
    return "\n".join(f"- `{t['id']}` [{t['stage']}] {t['title']} (kind {t['kind']}, priority {t['priority']})"
                     for t in tasks)


def _cell(text: str, limit: int) -> str:
    flat = " ".join(text.split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
