"""The `gamma-agent` commands, defined once: the words, arguments, help, who may use them and a one-line summary.

Everything that spells out a `gamma-agent` command is generated from `COMMANDS`:
- the argparse parser of `workers/agent_cli.py` (`build_parser`),
- the commands section of each agent's CLAUDE.md (`orchestrator/claude_md.py`, lead and member variants),
- the command hints in the wake and task prompts (`example`, used in `orchestrator/`),
- the README's `gamma-agent` block (`readme_section`; `python -m shared.agent_commands --readme` rewrites it),
- the scripted agents' command lines (`argv`, used in `workers/agent_commands.py`).
Other mentions (protocol prose, role files, error messages) are checked against it by tests/test_agent_commands.py.

Standard library only, and no import from the rest of `shared`: `gamma-agent` loads this file while it starts
(see `workers/agent_cli.py`), and the orchestrator imports it without importing `workers`.
"""

from __future__ import annotations

import argparse
import sys
from collections import namedtuple

TYPE_CHECKING = False  # gamma-agent loads this file on every call: `typing` (and dataclasses) would cost it that
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

PROG = "gamma-agent"
LEAD = "lead"
MEMBER = "member"
EVERYONE = frozenset({LEAD, MEMBER})
LEAD_ONLY = frozenset({LEAD})

TASK_KINDS = ("generic", "backend", "frontend", "mobile", "qa", "design", "devops", "security", "data", "ml",
              "research", "writing", "marketing", "sales", "support", "product", "planning", "review", "docs")
STATUSES = ("backlog", "blocked", "in_progress", "review", "done", "failed", "cancelled")

README_START = "<!-- gamma-agent:start -->"
README_END = "<!-- gamma-agent:end -->"


class Arg(namedtuple("Arg", ("name", "metavar", "help", "required", "choices", "type", "default", "many", "who"),
                     defaults=(None, None, False, None, None, None, False, EVERYONE))):
    """One positional argument (`name` without dashes) or option (`name` starting with `--`).

    metavar: shown in synopses; an option without one is a flag. required: options only (positionals always are).
    choices, type, default: as argparse's. many: several words (nargs="+"), e.g. TEXT without quotes. who: the
    audiences the synopsis shows it to (the parser always accepts it)."""

    __slots__ = ()
    name: str
    metavar: str | None
    help: str | None
    required: bool
    choices: tuple[str, ...] | None
    type: type | None
    default: Any
    many: bool
    who: frozenset[str]

    @property
    def is_option(self) -> bool:
        return self.name.startswith("--")

    @property
    def dest(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")

    def synopsis(self) -> str:
        if not self.is_option:
            return self.metavar or self.name.upper()
        text = f"{self.name} {self.metavar}" if self.metavar else self.name
        return text if self.required else f"[{text}]"


class Command(namedtuple("Command", ("words", "summary", "args", "who", "aliases", "notes", "member_summary"),
                         defaults=((), EVERYONE, (), (), None))):
    """One command. words: e.g. "task done". summary: one line, the parser's help and the comment in CLAUDE.md and
    the README. aliases: other names of a one-word command. notes: extra comment lines under the synopsis in
    CLAUDE.md and the README. member_summary: what a member's CLAUDE.md says instead of `summary`, when a member
    may use it in a narrower way."""

    __slots__ = ()
    words: str
    summary: str
    args: tuple[Arg, ...]
    who: frozenset[str]
    aliases: tuple[str, ...]
    notes: tuple[str, ...]
    member_summary: str | None

    @property
    def key(self) -> str:
        return self.words

    def arg(self, dest: str) -> Arg:
        for arg in self.args:
            if arg.dest == dest:
                return arg
        raise KeyError(f"{PROG} {self.words} has no argument {dest!r}")

    def synopsis(self, audience: str | None = None) -> str:
        shown = [a.synopsis() for a in self.args if audience is None or audience in a.who]
        return " ".join([PROG, self.words, *shown])

    def describe(self, audience: str | None = None) -> str:
        if audience == MEMBER and self.member_summary:
            return self.member_summary
        return self.summary


TASK_ID = Arg("task_id", "TASK_ID")
TEXT = Arg("text", "TEXT", many=True)

COMMANDS: tuple[Command, ...] = (
    Command("whoami", "who you are: agent, team, run, current task"),
    Command("team", "teammates with live status", aliases=("teammates",)),
    Command("context", "team, workspace paths, task counts, finished results"),
    Command("tasks", "list the team's tasks", (
        Arg("--mine", help="only tasks assigned to you"),
        Arg("--status", "S", help="comma-separated: backlog,blocked,in_progress,review,done,failed,cancelled"),
        Arg("--assignee", "NAME", help="teammate name"),
    )),
    Command("task get", "one task with its full result", (TASK_ID,)),
    Command("task diff", "a task's change as git measured it: files with line counts, commits, unified diff", (
        TASK_ID, Arg("--stat", help="only the files and their line counts, not the diff"))),
    Command("task create", "create a task (the lead may assign it to anyone)", (
        Arg("--title", "T", required=True),
        Arg("--assignee", "NAME", help="teammate name (default: yourself)", who=LEAD_ONLY),
        Arg("--description", "D"),
        Arg("--kind", "K", choices=TASK_KINDS),
        Arg("--priority", "N", type=int, help="-100..100, higher first"),
        Arg("--depends-on", "IDS", help="comma-separated task ids: it starts once they are all done"),
    ), member_summary="a task for yourself (only the lead assigns others)"),
    Command("plan", "create several tasks from a JSON list, all or nothing", (Arg("file", "FILE|-"),),
            who=LEAD_ONLY, notes=("FILE (or - for stdin): a JSON list of tasks, e.g.",
                                  '[{"key": "api", "title": "...", "assignee": "NAME", "kind": "backend"},',
                                  ' {"title": "Test it", "assignee": "NAME", "depends_on": ["api"]}]',
                                  "depends_on names keys of the same plan or ids of existing tasks; a task starts "
                                  "once all of them are done")),
    Command("task done", "finish your task with a real summary (what you did, findings, file paths)", (
        TASK_ID,
        Arg("--summary", "S", required=True, help="what you did, findings, file paths ('-' reads stdin)"),
        Arg("--files", "a,b", help="comma-separated paths you wrote"),
    )),
    Command("task review", "finish your task but ask the lead to review it first", (
        TASK_ID,
        Arg("--summary", "S", help="what you did, findings, file paths ('-' reads stdin)"),
        Arg("--files", "a,b", help="comma-separated paths you wrote"),
        Arg("--message", "M", help="what the lead should look at"),
    )),
    Command("task block", "you are blocked: the task goes to the lead with the reason", (
        TASK_ID, Arg("--reason", "R", required=True))),
    Command("task fail", "give up on a task, saying why", (TASK_ID, Arg("--reason", "R", required=True))),
    Command("task update", "move a task to a status (lead: review decisions)", (
        TASK_ID,
        Arg("--status", "S", required=True, choices=STATUSES),
        Arg("--summary", "S"),
        Arg("--reason", "R"),
        Arg("--message", "M", help="e.g. the changes you ask for when sending it back (in_progress)"),
        Arg("--files", "a,b"),
    )),
    Command("task assign", "give a task that has not started to someone else", (TASK_ID, Arg("name", "NAME")),
            who=LEAD_ONLY),
    Command("task cancel", "cancel a task and its runs", (TASK_ID, Arg("--reason", "R", required=True)),
            who=LEAD_ONLY),
    Command("msg send", "message a teammate (by exact name); it reaches their next run", (
        Arg("name", "NAME"), TEXT, Arg("--ask", help="you need an answer: wakes them if they are idle"))),
    Command("msg read", "your unread messages (each is returned once)", (
        Arg("--limit", "N", type=int, default=50),)),
    Command("msg broadcast", "message every teammate", (TEXT,), who=LEAD_ONLY),
    Command("status", "report progress; --blocker also tells the lead", (
        TEXT, Arg("--blocker", "B"), Arg("--task", "TASK_ID"))),
    Command("done", "the user's goal is met (open tasks stay as they are)", (Arg("--summary", "S", required=True),),
            who=LEAD_ONLY),
)

# The two-word commands' first word, with what `gamma-agent WORD --help` says about the group.
GROUPS = {"task": "one task", "msg": "messages"}

# Every name a command answers to (an alias of a one-word command is one word too, e.g. `teammates`).
BY_KEY: dict[str, Command] = {name: c for c in COMMANDS for name in (c.key, *c.aliases)}


def command(words: str) -> Command:
    try:
        return BY_KEY[words]
    except KeyError:
        raise KeyError(f"no such command: {PROG} {words}") from None


def for_audience(audience: str) -> list[Command]:
    return [c for c in COMMANDS if audience in c.who]


# ------------------------------------------------------------------------------------------------------ parser


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
                 only: Command | None = None, **parser_options: Any) -> argparse.ArgumentParser:
    """The argparse parser for every command (or `only` that one: a call parses one command, and need not build
    the others); `args.command` (and `args.action` for two words) name it."""
    parser = parser_class(prog=PROG, **parser_options)
    top = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)
    groups: dict[str, argparse._SubParsersAction] = {}
    for cmd in COMMANDS if only is None else (only,):
        first, _, action = cmd.words.partition(" ")
        if not action:
            _add_args(top.add_parser(first, aliases=list(cmd.aliases), help=_help(cmd)), cmd)
            continue
        if first not in groups:
            actions = [c.words.partition(" ")[2] for c in COMMANDS if c.words.startswith(first + " ")]
            group = top.add_parser(first, help=f"{GROUPS[first]}: {', '.join(actions)}")
            groups[first] = group.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
        _add_args(groups[first].add_parser(action, aliases=list(cmd.aliases), help=_help(cmd)), cmd)
    return parser


def _help(cmd: Command) -> str:
    return f"(lead) {cmd.summary}" if cmd.who == LEAD_ONLY else cmd.summary


def _add_args(parser: argparse.ArgumentParser, cmd: Command) -> None:
    for arg in cmd.args:
        options: dict[str, Any] = {"help": arg.help}
        if not arg.is_option:
            options["metavar"] = arg.metavar
            if arg.many:
                options["nargs"] = "+"
            parser.add_argument(arg.dest, **options)
            continue
        if arg.metavar is None:
            options["action"] = "store_true"
        else:
            options.update(metavar=arg.metavar, required=arg.required)
            for name in ("choices", "type", "default"):
                if getattr(arg, name) is not None:
                    options[name] = getattr(arg, name)
        parser.add_argument(arg.name, **options)


def parsed_key(args: argparse.Namespace) -> str:
    """The command's words from parsed arguments (an alias keeps its own name, e.g. `teammates`)."""
    action = getattr(args, "action", None)
    return args.command if action is None else f"{args.command} {action}"


# --------------------------------------------------------------------------------------------------- documents


def reference(audience: str | None = None, width: int = 52) -> str:
    """The commands as synopsis lines with a comment each: one audience's (CLAUDE.md) or everyone's (README)."""
    commands = COMMANDS if audience is None else for_audience(audience)
    lines = []
    for cmd in commands:
        synopsis = cmd.synopsis(audience)
        comment = cmd.describe(audience)
        if audience is None and cmd.who == LEAD_ONLY:
            comment = f"(lead) {comment}"
        if len(synopsis) < width - 1:
            lines.append(f"{synopsis:<{width - 1}} # {comment}")
        else:  # too long to share a line with its comment
            lines += [synopsis, f"    # {comment}"]
        lines += [f"    # {note}" for note in cmd.notes]
    return "\n".join(lines)


def readme_section() -> str:
    """What the README holds between README_START and README_END."""
    aliases = "; ".join(f"`{PROG} {a}` is `{PROG} {c.words}`" for c in COMMANDS for a in c.aliases)
    return "\n".join([
        "<!-- Generated from shared/agent_commands.py by `python -m shared.agent_commands --readme`; edit that. -->",
        "```",
        reference(),
        "```",
        "",
        f"(lead) marks what only the team lead may run. {aliases}.",
        "A text value given as `-` is read from stdin.",
    ])


def replace_readme_section(text: str) -> str:
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    return f"{text[:start]}\n{readme_section()}\n{text[end:]}"


def readme_block(text: str) -> str:
    """The README's current block between the markers (without the newlines next to them)."""
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    return text[start:end].strip("\n")


# ------------------------------------------------------------------------------------------------------- hints


def argv(words: str, *positionals: str, **options: str | bool) -> list[str]:
    """One concrete call as an argument vector, checked against the definition (what scripted agents run).

    `argv("task update", "task_X", status="done")` is `["gamma-agent", "task", "update", "task_X", "--status",
    "done"]`; `True` is a flag. Raises KeyError/ValueError when the command, an option or a count does not match,
    so a caller cannot drift from the parser."""
    cmd = command(words)
    expected = [a for a in cmd.args if not a.is_option]
    if len(positionals) != len(expected) and not (expected and expected[-1].many and len(positionals) >= len(expected)):
        raise ValueError(f"{PROG} {words} takes {len(expected)} positional argument(s), not {len(positionals)}")
    parts = [PROG, *words.split(), *positionals]
    for name, value in options.items():
        arg = cmd.arg(name)
        if not arg.is_option:
            raise ValueError(f"{arg.name} of {PROG} {words} is positional")
        if (value is True) != (arg.metavar is None):
            kind = "is a flag" if arg.metavar is None else "takes a value"
            raise ValueError(f"{arg.name} of {PROG} {words} {kind}")
        parts += [arg.name] if value is True else [arg.name, str(value)]
    missing = [a.name for a in cmd.args if a.is_option and a.required and a.dest not in options]
    if missing:
        raise ValueError(f"{PROG} {words} needs {', '.join(missing)}")
    return parts


def example(words: str, *positionals: str, optional: Iterable[str] = (), **options: str | bool) -> str:
    """One concrete command line for a prompt, checked like `argv` (so prompts cannot drift from the parser).

    `example("task update", "<task_id>", status="done")` is `gamma-agent task update <task_id> --status done`.
    Values go in as given, so quote them yourself (`summary='"..."'`); options named in `optional` are shown in
    [brackets]."""
    argv(words, *positionals, **options)  # only to check it
    optional = set(optional)
    unknown = optional - set(options)
    if unknown:
        raise ValueError(f"optional names options that are not given: {', '.join(sorted(unknown))}")
    parts = [PROG, words, *positionals]
    for name, value in options.items():
        flag = command(words).arg(name).name
        text = flag if value is True else f"{flag} {value}"
        parts.append(f"[{text}]" if name in optional else text)
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m shared.agent_commands",
                                  description="Print or regenerate the generated gamma-agent documentation.")
    cli.add_argument("--readme", nargs="?", const="README.md", metavar="PATH",
                     help="rewrite the block between the gamma-agent markers in PATH (default README.md)")
    args = cli.parse_args(argv)
    from pathlib import Path  # noqa: PLC0415 (not on gamma-agent's way)

    if args.readme is None:
        print(readme_section())
        return 0
    path = Path(args.readme)
    text = path.read_text(encoding="utf-8")
    updated = replace_readme_section(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    print(f"{path}: {'updated' if updated != text else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
