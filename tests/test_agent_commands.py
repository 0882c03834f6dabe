"""The one definition of `gamma-agent`'s commands and what is generated from it: the CLI's parser, the README's
block, the prompts' hints; every other mention of a command (protocol prose, error messages, role files) names a
real command with real options. No database, no processes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from orchestrator.workflows import delegation as tasks
from orchestrator.workflows import wake as rounds
from shared import agent_commands
from shared.agent_commands import COMMANDS, LEAD, MEMBER
from workers import agent_cli
from workers import agent_commands as scripted

ROOT = Path(__file__).resolve().parent.parent
TASK_ID = "task_01HZY3V9M1Q8W6E2K4R7T5N0PA"


def sample_argv(command: agent_commands.Command) -> tuple[list[str], dict[str, object]]:
    """A call that gives every argument of `command` a value, and the values the parser should produce."""
    argv, expected = [*command.words.split()], {}
    for arg in command.args:
        if arg.is_option and arg.metavar is None:
            argv.append(arg.name)
            expected[arg.dest] = True
            continue
        value = arg.choices[-1] if arg.choices else "7" if arg.type is int else f"{arg.dest}-value"
        expected[arg.dest] = ([value] if arg.many else int(value) if arg.type is int else value)
        argv += [arg.name, value] if arg.is_option else [value]
    return argv, expected


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.words)
def test_the_parser_is_the_definition(command):
    parser = agent_cli.build_parser()
    argv, expected = sample_argv(command)
    parsed = parser.parse_args(argv)
    assert agent_commands.parsed_key(parsed) == command.words
    assert {k: v for k, v in vars(parsed).items() if k not in ("command", "action")} == expected
    for arg in command.args:
        if arg.is_option and arg.required:
            without = [a for a in argv if a != arg.name and a != expected[arg.dest]]
            with pytest.raises(agent_cli.UsageError, match=re.escape(arg.name)):
                parser.parse_args(without)


def test_every_command_and_alias_has_a_handler_and_nothing_else_does():
    names = {name for c in COMMANDS for name in (c.words, *c.aliases)}
    assert names == set(agent_cli.HANDLERS)
    assert agent_cli.build_parser().parse_args(["teammates"]).command == "teammates"


def test_only_the_lead_is_shown_the_lead_commands():
    lead_only = [c.words for c in COMMANDS if c.who == agent_commands.LEAD_ONLY]
    assert {"plan", "task assign", "task cancel", "msg broadcast", "done"} <= set(lead_only)
    member, lead = agent_commands.reference(MEMBER), agent_commands.reference(LEAD)
    for words in lead_only:
        assert f"gamma-agent {words} " not in member and f"gamma-agent {words} " in lead
    assert "gamma-agent task create --title T [--description D]" in member and "a task for yourself" in member
    assert "gamma-agent task create --title T [--assignee NAME]" in lead
    for words in ("task update", "task assign", "task cancel", "task get"):  # the ones the README once lacked
        assert f"gamma-agent {words} TASK_ID" in agent_commands.readme_section()


def test_the_readme_block_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(agent_commands.README_START) == 1 and readme.count(agent_commands.README_END) == 1
    assert agent_commands.readme_block(readme) == agent_commands.readme_section(), (
        "README.md's gamma-agent block is stale: run `.venv/bin/python -m shared.agent_commands --readme`")


def test_regenerating_the_readme_replaces_only_the_block(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# Intro\n\n{agent_commands.README_START}\nold text\n{agent_commands.README_END}\n\nTail\n")
    assert agent_commands.main(["--readme", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# Intro\n\n") and text.endswith("\n\nTail\n") and "old text" not in text
    assert agent_commands.readme_block(text) == agent_commands.readme_section()
    assert agent_commands.main(["--readme", str(path)]) == 0 and path.read_text() == text


def concrete(line: str) -> list[str]:
    """A hint as a call: [optional] parts dropped, the rest as the shell would split it."""
    return shlex.split(re.sub(r"\[[^\]]*\]", "", line))[1:]


def hints(text: str) -> list[str]:
    """The `gamma-agent …` lines of a prompt: in backticks, or else up to a wide gap or the end of the line."""
    found = re.findall(r"`(gamma-agent [^`]+)`", text)
    found += re.findall(r"(?<![`\w])(gamma-agent [^`\n]+?)(?=\s{3}|$)", re.sub(r"`[^`]*`", "", text), re.M)
    return found


def test_every_hint_in_the_prompts_parses():
    task = {"id": TASK_ID, "title": "API", "kind": "backend", "priority": 1, "description": "Build it",
            "stage": "review", "assignee_name": "Alice", "result": {"summary": "done"}}
    wake = rounds.wake_prompt([task], unread=2)
    prompt = tasks.task_prompt(task, tasks.USER, rework="fix it")
    found = hints(wake) + hints(prompt)
    assert len(found) == 10, found
    parser = agent_cli.build_parser()
    keys = {agent_commands.parsed_key(parser.parse_args(concrete(line))) for line in found}
    assert keys == {"task get", "task update", "task fail", "done", "msg read", "task done", "task review",
                    "task block"}
    assert f'gamma-agent task done {TASK_ID} --summary "..." [--files path1,path2]' in prompt


def mentions(text: str) -> list[tuple[str, list[str]]]:
    """Every `gamma-agent WORDS …` in prose or source: the command it names and the options it shows."""
    found = []
    for match in re.finditer(r"gamma-agent((?: [a-z][a-z_-]*)+)([^`\n]*)", text):
        words = match.group(1).split()
        key = " ".join(words[:2]) if " ".join(words[:2]) in agent_commands.BY_KEY else words[0]
        found.append((key, re.findall(r"--[a-z][a-z-]*", match.group(2))))
    return found


def test_every_command_mentioned_anywhere_is_a_real_one():
    sources = [*sorted((ROOT / "orchestrator").rglob("*.py")), *sorted((ROOT / "roles").rglob("*.md")),
               ROOT / "README.md"]
    seen = set()
    for path in sources:
        for key, options in mentions(path.read_text(encoding="utf-8")):
            where = f"{path.relative_to(ROOT)}: gamma-agent {key} {' '.join(options)}"
            assert key in agent_commands.BY_KEY, f"{where}: no such command"
            for option in options:
                agent_commands.command(key).arg(option.removeprefix("--").replace("-", "_"))  # KeyError: no option
            seen.add(key)
    assert {"task done", "task create", "plan", "msg send", "task update", "task fail", "task block"} <= seen


def test_a_call_that_drifts_from_the_definition_is_refused():
    assert agent_commands.argv("tasks", mine=True) == ["gamma-agent", "tasks", "--mine"]
    with pytest.raises(KeyError, match="no such command"):
        agent_commands.argv("task finish", TASK_ID)
    with pytest.raises(KeyError, match="no argument 'result'"):
        agent_commands.argv("task done", TASK_ID, summary="s", result="r")
    with pytest.raises(ValueError, match="needs --summary"):
        agent_commands.argv("task done", TASK_ID)
    with pytest.raises(ValueError, match="1 positional"):
        agent_commands.argv("task get")
    with pytest.raises(ValueError, match="is a flag"):
        agent_commands.argv("tasks", mine="yes")
    with pytest.raises(ValueError, match="not given"):
        agent_commands.example("task done", TASK_ID, summary="s", optional=["files"])


def test_the_scripted_agents_lines_parse_as_the_commands_they_mean():
    parser = agent_cli.build_parser()
    lines = {
        "task create": scripted.task_create("API", "Alice", "Build it"),
        "task done": scripted.task_done(TASK_ID, "All done"),
        "task update": scripted.approve(TASK_ID),
        "tasks": scripted.list_tasks(),
        "teammates": scripted.list_teammates(),
        "msg send": scripted.msg_send("Bob", "hello there"),
    }
    for key, argv in lines.items():
        assert argv[0] == scripted.PROGRAM
        assert agent_commands.parsed_key(parser.parse_args(argv[1:])) == key, argv
    assert parser.parse_args(scripted.approve(TASK_ID)[1:]).status == "done"
