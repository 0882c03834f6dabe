"""A Messages API request as a brain sees it: the latest prompt, the agent's CLAUDE.md, the tool calls made since
the prompt and their results, and which brain the text asks for.

What the real CLI sends: the CLAUDE.md arrives as a `<system-reminder>` text block at the start of the first user
message, the prompt as the next text block; tool results come back as `tool_result` blocks in the next user
message; messages with role `system` may appear in between (the mid-conversation-system beta). Where the
environment block (`Primary working directory: …`) travels changes between releases — 2.1.197 put it in the
system prompt, 2.1.332 in a `system` message after the first user message — so it is looked for in all of them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tests.model_double.replies import ToolUse

MARKER = re.compile(r"\[\[brain:([A-Za-z0-9_.-]+)([^\]]*)\]\]")
_REMINDER = "<system-reminder>"
_CWD = re.compile(r"Primary working directory: (\S+)")


_WORKTREE = re.compile(r"^Worktree: `([^`]+)`", re.MULTILINE)


def find_worktree(text: str) -> str | None:
    """The task's worktree a task prompt names (`Worktree: `…``, orchestrator/workflows/task_moves.py), or None."""
    match = _WORKTREE.search(text)
    return match.group(1) if match else None


def find_cwd(texts: list[str]) -> str | None:
    """The working directory an agent CLI announced in any of `texts` (claude's environment block), or None."""
    for text in texts:
        match = _CWD.search(text)
        if match:
            return match.group(1)
    return None


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]

    @property
    def command(self) -> str:
        return str(self.input.get("command", ""))


@dataclass(frozen=True)
class ToolResult:
    call: ToolCall | None
    content: str
    is_error: bool


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, dict)]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(block.get("text", "")) for block in content or [] if isinstance(block, dict))


def _is_context(text: str) -> bool:
    """Text the CLI adds around the prompt: a system reminder (CLAUDE.md, …) or its environment block."""
    return text.lstrip().startswith(_REMINDER) or _CWD.search(text) is not None


def _parse_args(text: str) -> dict[str, str]:
    args = {}
    for token in shlex.split(text):
        key, sep, value = token.partition("=")
        args[key] = value if sep else "true"
    return args


class Conversation:
    def __init__(self, request: dict[str, Any], body_size: int = 0) -> None:
        self.request = request
        self.body_size = body_size
        self.model: str = str(request.get("model") or "claude-double")
        self.stream = bool(request.get("stream"))
        self.all_messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
        self.messages = [m for m in self.all_messages if m.get("role") in ("user", "assistant")]

    # ------------------------------------------------------------------------------------------ the text

    @cached_property
    def system_text(self) -> str:
        system = self.request.get("system")
        return system if isinstance(system, str) else _text(system)

    @cached_property
    def cwd(self) -> str | None:
        """From the environment block, wherever the CLI put it: the system prompt or any message's text."""
        texts = [self.system_text]
        texts += [str(block.get("text", "")) for message in self.all_messages for block in _blocks(message)
                  if block.get("type") == "text"]
        return find_cwd(texts)

    @property
    def project_dir(self) -> str | None:
        """Where this agent works on the project: its task's worktree (named in the prompt), else the team's main
        line (`../../project` from its own directory)."""
        worktree = find_worktree(self.user_text)
        if worktree and not worktree.startswith("/"):  # named from the agent's own directory
            return f"{self.cwd}/{worktree}" if self.cwd else None
        if worktree:
            return worktree
        return f"{self.cwd}/../../project" if self.cwd else None

    @property
    def is_side_request(self) -> bool:
        """A request the CLI makes on the side (session title, …): no tools and not the agent's system prompt."""
        return not self.request.get("tools") and self.cwd is None

    @property
    def output_schema(self) -> dict[str, Any] | None:
        output_format = (self.request.get("output_config") or {}).get("format") or {}
        return output_format.get("schema") if output_format.get("type") == "json_schema" else None

    def _is_prompt(self, message: dict[str, Any]) -> bool:
        if message.get("role") != "user":
            return False
        blocks = _blocks(message)
        if any(block.get("type") == "tool_result" for block in blocks):
            return False
        return any(block.get("type") == "text" and not _is_context(str(block.get("text", ""))) for block in blocks)

    @cached_property
    def prompt_index(self) -> int:
        for index in range(len(self.messages) - 1, -1, -1):
            if self._is_prompt(self.messages[index]):
                return index
        return 0

    @cached_property
    def prompt(self) -> str:
        """The latest prompt's own text (without system reminders such as the CLAUDE.md)."""
        if not self.messages:
            return ""
        return "\n".join(
            str(block.get("text", "")) for block in _blocks(self.messages[self.prompt_index])
            if block.get("type") == "text" and not _is_context(str(block.get("text", "")))
        ).strip()

    @cached_property
    def user_text(self) -> str:
        """All text the user side sent (reminders included, tool results excluded), oldest first."""
        return "\n".join(
            str(block.get("text", "")) for message in self.messages if message.get("role") == "user"
            for block in _blocks(message) if block.get("type") == "text"
        )

    @cached_property
    def claude_md(self) -> str:
        return "\n".join(
            str(block.get("text", "")) for message in self.messages if message.get("role") == "user"
            for block in _blocks(message)
            if block.get("type") == "text" and "CLAUDE.md" in str(block.get("text", ""))
        )

    # ------------------------------------------------------------------------------------------ progress

    @property
    def step(self) -> int:
        """Assistant messages already sent since the latest prompt (0: this is the first answer to it)."""
        return sum(1 for message in self.messages[self.prompt_index:] if message.get("role") == "assistant")

    def _calls(self, messages: list[dict[str, Any]]) -> list[ToolCall]:
        return [
            ToolCall(str(block.get("id")), str(block.get("name")), dict(block.get("input") or {}))
            for message in messages if message.get("role") == "assistant"
            for block in _blocks(message) if block.get("type") == "tool_use"
        ]

    @cached_property
    def calls(self) -> list[ToolCall]:
        """Tool calls made since the latest prompt."""
        return self._calls(self.messages[self.prompt_index:])

    @cached_property
    def earlier_calls(self) -> list[ToolCall]:
        """Tool calls made in earlier turns of this session (before the latest prompt)."""
        return self._calls(self.messages[:self.prompt_index])

    @cached_property
    def results(self) -> list[ToolResult]:
        """Results of the tool calls since the latest prompt, in order, each with its call."""
        by_id = {call.id: call for call in self.calls}
        return [
            ToolResult(by_id.get(str(block.get("tool_use_id"))), _text(block.get("content")),
                       bool(block.get("is_error")))
            for message in self.messages[self.prompt_index:] if message.get("role") == "user"
            for block in _blocks(message) if block.get("type") == "tool_result"
        ]

    def running_command(self) -> ToolUse | None:
        """A call that waits on a command the CLI handed back still running; None when nothing is left running
        (claude's Bash tool always waits for its command)."""
        return None

    def results_of(self, predicate: Any) -> list[ToolResult]:
        return [result for result in self.results if result.call is not None and predicate(result.call)]

    # ------------------------------------------------------------------------------------------ the brain

    @cached_property
    def _marker(self) -> tuple[str, dict[str, str]] | None:
        for text in (self.prompt, self.user_text):
            found = MARKER.findall(text)
            if found:
                name, args = found[-1]
                return name, _parse_args(args)
        return None

    def use(self, spec: str) -> None:
        """Override the marker: `spec` is what would follow `brain:` in one (a name, then key=value args)."""
        name, _, rest = spec.strip().partition(" ")
        self.__dict__["_marker"] = (name, _parse_args(rest))

    @property
    def brain_name(self) -> str | None:
        return self._marker[0] if self._marker else None

    @property
    def args(self) -> dict[str, str]:
        return self._marker[1] if self._marker else {}

    def arg(self, name: str, default: str) -> str:
        return self.args.get(name, default)
