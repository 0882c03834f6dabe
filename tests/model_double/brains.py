"""Scripted brains: each takes the conversation so far and returns the next assistant turn (or an API error).

Select one with a marker anywhere in the prompt or the agent's CLAUDE.md: `[[brain:NAME key=value …]]` (the
latest prompt's marker wins, then the newest marker before it — so a resumed session keeps its brain; values may
be shell-quoted). No marker: `echo` (or `ModelDouble(default_brain=…)`). `ModelDouble(select=fn)` can choose
instead: `fn(conversation)` returns a spec such as "member file=out.md" (e.g. by `conversation.cwd`) or None.
Requests the CLI makes on the side (the session title) never reach a brain.

- `echo` [text]: one text answer (the prompt echoed, or `text`).
- `write_file` [path, cmd, content]: thinking + text + Bash `cmd` + Write `path`, all in one message; after
  the results, a text quoting the command's output.
- `slow` [seconds=600]: a foreground command that takes N seconds (`python3 -c 'import time; time.sleep(N)'`;
  newer claude CLIs refuse a standalone `sleep N`), then a text. The CLI really runs it, in a session of its
  own (setsid): stopping the CLI's process group does not stop it. A CLI that hands back a still-running
  command (codex's exec_command after its yield time) is asked to wait on it again.
- `slow_stream` [seconds=600, interval=1]: one text streamed a delta per `interval` seconds.
- `many_turns`: a Bash `echo turn N` on every request; never ends by itself (for --max-turns).
- `error_401`, `error_429`, `error_529`: the API's invalid-key / rate-limit / overloaded errors.
- `usage_limit` [reset_in=3600 | resets_at=EPOCH, claim=five_hour]: the subscription limit (429 with the
  anthropic-ratelimit-unified-* headers; the CLI must be logged in with CLAUDE_CODE_OAUTH_TOKEN).
- `lead` [members=A,B, member_brain=member]: plans one `gamma-agent task create` per member (the description
  carries `[[brain:member]]`; `member_brain=none` leaves it out; no `members`: asks `gamma-agent teammates`)
  and ends its turn. On a later prompt in a session where it already planned, it reviews (`lead_review`).
  With `qa=NAME` [files=a,b, fail=NAME]: one `gamma-agent plan` in stages instead — a builder task per member
  (`[[brain:member file=../../project/<file>]]`, `report=fail` for the ones in `fail`, `report=R` for all the
  others with `member_report=R`) and a QA task for NAME (`[[brain:qa]]`) that depends on all of them.
- `lead_review` [changes, review=user]: `gamma-agent tasks`, approves every task in review (`gamma-agent task update ID
  --status done`), then a summary of the task list; with `review=user` it approves nothing and says which tasks
  wait for the user's review. With `changes=TEXT`, the first review in the session sends
  the tasks in review back instead (`--status in_progress --message TEXT`); later ones approve.
- `member` [file, report=done|review|fail, wait=N]: takes its task id from the prompt (else from `gamma-agent
  tasks`), with `wait` first runs a foreground command of N seconds, writes `file` (default
  ../../project/<task id>.md, i.e. the team's project folder), reports it with `gamma-agent task done <id>
  --summary … [--files project/…]` (`review`: `task review`, for the lead to check; `fail`: writes nothing and
  runs `task fail`), then answers. A rework prompt's feedback is quoted in the summary. `hold=N`: a command of N
  seconds after writing, before reporting; `linger=N`: one after reporting, before answering (once per session).
- `qa`: reads (`cat`) the files named in its prompt's `Files:` lines (what the tasks it depends on reported), then
  reports its task done saying what it read (or fails it when they cannot be read).

Relative paths are resolved against the CLI's working directory, read from the environment the CLI sends
(wherever it puts it); a request that names none gets a 400 error instead — the double never writes relative to
its own working directory. Every `gamma-agent` command line comes from `workers/agent_commands.py`.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable

from tests.model_double.conversation import MARKER, Conversation, ToolCall
from tests.model_double.replies import (
    CHUNK,
    ApiError,
    Refused,
    Reply,
    Text,
    Thinking,
    ToolUse,
    Turn,
    invalid_api_key,
    overloaded,
    rate_limited,
    usage_limit,
)
from workers import agent_commands as cmd

Brain = Callable[[Conversation], Reply]
BRAINS: dict[str, Brain] = {}
DEFAULT_BRAIN = "echo"
SIDE_ANSWER = "Model double session"


def brain(name: str) -> Callable[[Brain], Brain]:
    def register(function: Brain) -> Brain:
        BRAINS[name] = function
        return function

    return register


# ---------------------------------------------------------------------------------------------- helpers


def bash(command: str, description: str, **extra: object) -> ToolUse:
    return ToolUse("Bash", {"command": command, "description": description, **extra})


def write(path: str, content: str) -> ToolUse:
    return ToolUse("Write", {"file_path": path, "content": content})


def resolve(conv: Conversation, path: str) -> str:
    """`path` against the agent's working directory; refuses (400) when the request does not name one."""
    return _against(conv.cwd, path)


def in_project(conv: Conversation, path: str) -> str:
    """`path` against where the agent works on the project (its task's worktree, else the main line)."""
    return _against(conv.project_dir, path)


def _against(directory: str | None, path: str) -> str:
    if os.path.isabs(path):
        return path
    if not directory:
        raise Refused(ApiError(400, "invalid_request_error",
                               f"model double: no working directory in the request to resolve {path!r} against"))
    return os.path.normpath(os.path.join(directory, path))


def _names(conv: Conversation, arg: str) -> list[str]:
    """A comma-separated marker value (`members=Ann,Ben`) as a list; [] when absent."""
    return [name.strip() for name in conv.arg(arg, "").split(",") if name.strip()]


def _reported(conv: Conversation) -> bool:
    """Whether this turn already reported its task (done, review or fail)."""
    return any(conv.results_of(report) for report in _REPORTS)


def without_markers(text: str) -> str:
    return MARKER.sub("", text).strip()


def runs(argv_prefix: list[str]) -> Callable[[ToolCall], bool]:
    return lambda call: call.name == "Bash" and cmd.is_command(call.command, argv_prefix)


_CREATE = runs(cmd.task_create("", "", "")[:3])
_PLAN = runs(cmd.plan())
_DONE = runs(cmd.task_done("", "")[:3])
_REPORTS = [_DONE, runs(cmd.task_review("", "")[:3]), runs(cmd.task_fail("", "")[:3])]
_TASKS = runs(cmd.list_tasks())
_TEAMMATES = runs(cmd.list_teammates())


def _status_update(status: str) -> Callable[[ToolCall], bool]:
    """`gamma-agent task update ID --status STATUS` (the id sits between the words and the option)."""
    words = runs(cmd.approve("")[:3])
    return lambda call: words(call) and f"--status {status}" in call.command


_APPROVE = _status_update("done")
_CHANGES = _status_update("in_progress")  # sent back with what to fix


def _CAT(call: ToolCall) -> bool:  # noqa: N802 — a predicate like the ones above
    return call.name == "Bash" and call.command.startswith("cat ")


# ---------------------------------------------------------------------------------------------- simple brains


@brain("echo")
def echo(conv: Conversation) -> Reply:
    return Turn([Text(conv.arg("text", "") or f"Echo: {without_markers(conv.prompt)[:500] or 'pong'}")])


@brain("write_file")
def write_file(conv: Conversation) -> Reply:
    path = resolve(conv, conv.arg("path", "hello.txt"))
    command = conv.arg("cmd", "echo hello from the model double")
    if conv.step == 0:
        return Turn([
            Thinking(f"I should run `{command}` and write {os.path.basename(path)}."),
            Text(f"I'll run a command and write {path}."),
            bash(command, "Run the requested command"),
            write(path, conv.arg("content", "Written by the model double.\n")),
        ])
    output = next((r.content.strip() for r in conv.results if r.call and r.call.name == "Bash"), "")
    return Turn([Text(f"Done. I wrote {path}. The command printed: {output[:1000]}")])


def long_command(seconds: str) -> str:
    """A command that runs in the foreground for `seconds` (claude 2.1.332 blocks a standalone `sleep N`)."""
    return f"python3 -c 'import time; time.sleep({float(seconds)})'"


@brain("slow")
def slow(conv: Conversation) -> Reply:
    seconds = conv.arg("seconds", "600")
    if conv.step == 0:
        return Turn([Text(f"This takes a while ({seconds} s)."),
                     bash(long_command(seconds), "Wait", timeout=600_000)])
    running = conv.running_command()
    if running is not None:
        return Turn([Text("Still running; waiting for it."), running])
    return Turn([Text("Finished waiting.")])


@brain("slow_stream")
def slow_stream(conv: Conversation) -> Reply:
    interval = float(conv.arg("interval", "1"))
    deltas = max(1, int(float(conv.arg("seconds", "600")) / interval))
    text = "".join(f"{index:>{CHUNK - 1}}." for index in range(deltas))
    return Turn([Text(text)], delay=interval)


@brain("many_turns")
def many_turns(conv: Conversation) -> Reply:
    turn = conv.step + 1
    return Turn([Text(f"Step {turn}: one more command."), bash(f"echo turn {turn}", f"Print turn {turn}")])


@brain("error_401")
def error_401(conv: Conversation) -> Reply:
    return invalid_api_key()


@brain("error_429")
def error_429(conv: Conversation) -> Reply:
    return rate_limited()


@brain("error_529")
def error_529(conv: Conversation) -> Reply:
    return overloaded()


@brain("usage_limit")
def usage_limit_brain(conv: Conversation) -> Reply:
    resets_at = int(conv.arg("resets_at", "0")) or int(time.time()) + int(conv.arg("reset_in", "3600"))
    return usage_limit(resets_at, conv.arg("claim", "five_hour"))


# ---------------------------------------------------------------------------------------------- a team


@brain("lead")
def lead(conv: Conversation) -> Reply:
    planned_before = any(_CREATE(call) or _PLAN(call) for call in conv.earlier_calls)
    if planned_before and not any(_CREATE(call) or _PLAN(call) for call in conv.calls):
        return lead_review(conv)
    if conv.arg("qa", ""):
        return _lead_plan_stages(conv)
    return _lead_plan(conv)


def _lead_plan_stages(conv: Conversation) -> Reply:
    """One `gamma-agent plan`: a builder task per member (`files`: the file each writes into the project) and a
    QA task for `qa` that depends on all of them."""
    if conv.results_of(_PLAN):
        result = conv.results_of(_PLAN)[-1]
        if result.is_error:
            return Turn([Text(f"The plan was refused: {result.content.strip()[:500]}")])
        return Turn([Text("I planned the work in two stages: the builders first, then QA once both are done.")])
    builders, files, failing = _names(conv, "members"), _names(conv, "files"), set(_names(conv, "fail"))
    # `member_report=review`: the builders hand their work in for review instead of reporting it done.
    report = conv.arg("member_report", "")
    goal = without_markers(conv.prompt)[:200] or "the goal"
    tasks = []
    for index, name in enumerate(builders):
        file = files[index] if index < len(files) else f"part{index + 1}.md"
        tasks.append({"key": f"build{index + 1}", "title": f"Build {file}", "assignee": name, "kind": "frontend",
                      "description": f"Write {file} for: {goal} [[brain:member file={file}"
                                     + (" report=fail]]" if name in failing else f" report={report}]]" if report
                                        else "]]")})
    tasks.append({"key": "qa", "title": "QA the site", "assignee": conv.arg("qa", ""), "kind": "qa",
                  "depends_on": [t["key"] for t in tasks],
                  "description": f"Check the builders' files for: {goal} [[brain:qa]]"})
    line = f"printf %s {shlex.quote(json.dumps(tasks))} | {cmd.shell(cmd.plan())}"
    return Turn([Thinking("Builders first, then QA on their results."),
                 Text(f"Plan: {len(builders)} builder task(s), then QA by {conv.arg('qa', '')}."),
                 bash(line, "Plan the goal in stages")])


def _lead_plan(conv: Conversation) -> Reply:
    creates = [call for call in conv.calls if _CREATE(call)]
    if creates:
        failed = [r.content.strip()[:300] for r in conv.results_of(_CREATE) if r.is_error]
        note = f" {len(failed)} could not be created: {' | '.join(failed)}" if failed else ""
        return Turn([Text(f"I delegated {len(creates)} task(s) and will review the results when my teammates "
                          f"report back.{note}")])
    members = _names(conv, "members")
    if not members:
        listed = conv.results_of(_TEAMMATES)
        if not listed:
            return Turn([Text("Let me see who is on the team."),
                         bash(cmd.shell(cmd.list_teammates()), "List teammates")])
        members = cmd.teammate_names(listed[-1].content)
        if not members:
            return Turn([Text("I have no teammates to delegate to, so there is nothing to plan.")])
    goal = without_markers(conv.prompt)[:300] or "the goal"
    member_brain = conv.arg("member_brain", "member")
    marker = f" [[brain:{member_brain}]]" if member_brain != "none" else ""
    calls = [
        bash(cmd.shell(cmd.task_create(f"Part {index}: {goal[:60]}", name,
                                       f"Your part {index} of: {goal}.{marker}")), f"Create a task for {name}")
        for index, name in enumerate(members, start=1)
    ]
    return Turn([Thinking(f"I'll split the goal into {len(members)} part(s), one per teammate."),
                 Text(f"Plan: one task each for {', '.join(members)}."), *calls])


@brain("lead_review")
def lead_review(conv: Conversation) -> Reply:
    listed = conv.results_of(_TASKS)
    if not listed:
        return Turn([Text("My teammates reported back; let me read their results."),
                     bash(cmd.shell(cmd.list_tasks()), "List the team's tasks")])
    to_approve = cmd.task_ids_in_stage(listed[-1].content, "review")
    if to_approve and conv.arg("review", "") == "user":  # the user reviews: the lead only says what waits
        return Turn([Text(f"{len(to_approve)} task(s) wait for your review: open each diff and approve it, or ask "
                          "for changes. The rest follows by itself.\n\n" + _task_lines(listed[-1].content))])
    changes = conv.arg("changes", "")
    asked_before = any(_CHANGES(call) for call in conv.earlier_calls)
    if to_approve and changes and not asked_before and not conv.results_of(_CHANGES):
        return Turn([Text(f"Not yet: asking for changes on {len(to_approve)} task(s)."),
                     *(bash(cmd.shell(cmd.request_changes(task_id, changes)), f"Send {task_id} back")
                       for task_id in to_approve)])
    if conv.results_of(_CHANGES):
        return Turn([Text("I asked for changes; I will review the rework when it comes back.")])
    if to_approve and not conv.results_of(_APPROVE):
        return Turn([Text(f"The work looks right; approving {len(to_approve)} task(s)."),
                     *(bash(cmd.shell(cmd.approve(task_id)), f"Approve {task_id}") for task_id in to_approve)])
    return Turn([Text("Review done. Summary of the team's results:\n" + _task_lines(listed[-1].content))])


def _task_lines(output: str) -> str:
    """One line per task of `gamma-agent tasks` output: id, stage, title and the start of its result."""
    lines = []
    for item in cmd.records(output):
        result = item.get("result") if isinstance(item.get("result"), dict) else {}
        said = str(result.get("summary") or result.get("reason") or item.get("result") or "")[:200]
        lines.append(f"- {item.get('id')} [{item.get('stage') or item.get('status')}] {item.get('title', '')}: {said}")
    return "\n".join(lines) or output.strip()[:2000]


@brain("member")
def member(conv: Conversation) -> Reply:
    ids = cmd.task_ids(conv.prompt)
    if not ids:
        listed = conv.results_of(_TASKS)
        if not listed:
            return Turn([Text("Let me find my task."), bash(cmd.shell(cmd.list_tasks()), "List my tasks")])
        ids = cmd.open_task_ids(listed[-1].content)
        if not ids:
            return Turn([Text("I have no open task.")])
    task_id = ids[0]
    report = conv.arg("report", "done")
    if report == "fail":
        if not _reported(conv):
            return Turn([Text("I cannot do this task."), bash(cmd.shell(cmd.task_fail(
                task_id, "The model double's member brain was told to fail (report=fail).")), "Fail the task")])
        return Turn([Text(f"Task {task_id} failed: I reported why.")])
    relative = conv.arg("file", f"{task_id}.md")
    path = in_project(conv, relative)
    wait, hold = conv.arg("wait", ""), conv.arg("hold", "")
    if wait and conv.step == 0:
        return Turn([Text(f"First, a long job ({wait} s)."), bash(long_command(wait), "Wait", timeout=600_000)])
    conflict = _conflict_files(conv.prompt)
    if conflict and not conv.results_of(_MERGE):
        return Turn([Text(f"My branch conflicts with main in {', '.join(conflict)}: merging main and keeping both."),
                     bash(_resolve_conflict(conv.project_dir or ".", conflict, task_id), "Merge main, resolve",
                          timeout=120_000)])
    if not conflict and not conv.results_of(lambda call: call.name == "Write"):
        body = conv.arg("content", "") or (f"# {task_id}\n\nDone by the model double's member brain.\n\n"
                                           f"{without_markers(conv.prompt)[:500]}\n")
        return Turn([Text(f"Working on {task_id}: writing {path}."), write(path, body.replace("\\n", "\n"))])
    if hold and not conv.results_of(_HOLD):
        return Turn([Text(f"Written; now a long job ({hold} s) before I report."),
                     bash(long_command(hold), "Hold", timeout=600_000)])
    if not _reported(conv):
        summary = f"Wrote {path} with the result of {task_id}."
        reworked = _rework_feedback(conv.prompt)
        if reworked:
            summary += f" Reworked as asked: {reworked}"
        line = (cmd.task_review if report == "review" else cmd.task_done)(task_id, summary, [relative])
        return Turn([Text("Reporting the result."), bash(cmd.shell(line), f"Report the task ({report})")])
    linger = conv.arg("linger", "")
    if linger and not any(_LINGER(call) for call in (*conv.earlier_calls, *conv.calls)):
        return Turn([Text(f"Reported; one more long job ({linger} s) before I answer."),
                     bash(long_command(linger), "Linger", timeout=600_000)])
    return Turn([Text(f"Task {task_id} is done: I wrote {path} and reported it.")])


def _conflict_files(prompt: str) -> list[str]:
    """The files a merge-conflict rework prompt names (`[MERGE CONFLICT] files: a, b`)."""
    for line in prompt.splitlines():
        if line.startswith("[MERGE CONFLICT] files:"):
            return [f.strip() for f in line.split(":", 1)[1].split(",") if f.strip()]
    return []


def _resolve_conflict(worktree: str, files: list[str], task_id: str) -> str:
    """Merge main into the task's branch and resolve each conflicting file by keeping main's version followed by
    this task's own lines (what a person would do for two additions to the same place)."""
    steps = [f"cd {shlex.quote(worktree)}", "git merge main >/dev/null 2>&1; true"]
    for name in files:
        quoted = shlex.quote(name)
        steps.append(f"{{ git show main:{quoted}; git show HEAD:{quoted}; }} > {quoted}")
    steps += ["git add -A", f"git commit -q -m {shlex.quote(f'Merge main into {task_id}: keep both sides')}",
              "echo merged-and-resolved"]
    return " && ".join(steps)


def _MERGE(call: ToolCall) -> bool:  # noqa: N802 — a predicate like the ones above
    return call.name == "Bash" and "git merge main" in call.command


def _HOLD(call: ToolCall) -> bool:  # noqa: N802
    return call.name == "Bash" and call.input.get("description") == "Hold"


def _LINGER(call: ToolCall) -> bool:  # noqa: N802
    return call.name == "Bash" and call.input.get("description") == "Linger"


def _rework_feedback(prompt: str) -> str:
    """The feedback of a rework prompt (the line after its [REWORK] header), or ''."""
    lines = prompt.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("[REWORK]") and index + 1 < len(lines):
            return lines[index + 1].strip()
    return ""


@brain("qa")
def qa(conv: Conversation) -> Reply:
    """Reads the files the tasks it depends on reported (the prompt's `Files:` lines, relative to the team's
    folder), then reports its task done with what it read."""
    task_id = cmd.task_ids(conv.prompt)[0]
    files = [f.strip() for line in conv.prompt.splitlines() if line.strip().startswith("Files (in the main line):")
             for f in line.split(":", 1)[1].split(",") if f.strip()]
    if not files:
        if _reported(conv):
            return Turn([Text(f"QA of {task_id} failed: the prompt names no files to check.")])
        return Turn([Text("Nothing to check: the prompt names no files."),
                     bash(cmd.shell(cmd.task_fail(task_id, "no files to check")), "Fail the task")])
    if not conv.results_of(_CAT):
        paths = [in_project(conv, f) for f in files]
        return Turn([Text(f"Reading {len(paths)} file(s) to check them."),
                     bash("cat " + " ".join(shlex.quote(p) for p in paths), "Read the builders' files")])
    read = conv.results_of(_CAT)[-1]
    if not _reported(conv):
        if read.is_error:
            return Turn([Text("A file is missing."), bash(cmd.shell(cmd.task_fail(
                task_id, f"cannot read the files: {read.content.strip()[:300]}")), "Fail the task")])
        summary = f"QA passed: read {len(files)} file(s) ({', '.join(files)}), {len(read.content)} characters."
        return Turn([Text("The files are there and readable."),
                     bash(cmd.shell(cmd.task_done(task_id, summary)), "Report QA done")])
    return Turn([Text(f"QA of {task_id} is done.")])


def side_request(conv: Conversation) -> Turn:
    """Answer for the CLI's own side requests (e.g. the session title, asked for as JSON without
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC): never the selected brain, so scripts see only agent turns."""
    schema = conv.output_schema
    return Turn([Text(json.dumps(_example(schema)) if schema else SIDE_ANSWER)])


def _example(schema: dict) -> object:
    kind = schema.get("type")
    if kind == "object":
        return {key: _example(value) for key, value in (schema.get("properties") or {}).items()}
    return {"string": SIDE_ANSWER, "number": 0, "integer": 0, "boolean": False, "array": []}.get(str(kind))


def choose(name: str) -> Brain | ApiError:
    found = BRAINS.get(name)
    if found is not None:
        return found
    return ApiError(400, "invalid_request_error",
                    f"model double: unknown brain {name!r}; known brains: {', '.join(sorted(BRAINS))}")
