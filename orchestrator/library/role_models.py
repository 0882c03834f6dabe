"""What a role file and a blueprint file may contain (pydantic), and the loaded objects.

Role front matter follows the community "agency-agents" format (`name`, `description`, `emoji`, `color`,
`vibe` required; unknown keys such as `author` or `services` are ignored) plus Gamma's optional fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.backends import BACKEND_NAMES

TaskKind = Literal[
    "generic", "backend", "frontend", "mobile", "qa", "design", "devops", "security", "data", "ml",
    "research", "writing", "marketing", "sales", "support", "product", "planning", "review", "docs",
]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)

# A tool spec as the claude CLI takes it: `Read`, `Bash(git log:*)`, `mcp__server__tool`. Never an option.
_TOOL = re.compile(r"^[A-Za-z_][\w.\-]*(\(.*\))?$")
# A model alias or id (`sonnet`, `claude-sonnet-4-5`, `opus[1m]`). Never an option.
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-\[\]]*$")
# One path segment of a role id (a folder or a file stem), and a whole id `<category>/<slug>[/<more>]`.
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ROLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)+$")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _split_list(value: Any) -> Any:
    """Community files write `tools: WebFetch, WebSearch, Read`; Gamma files write a YAML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class RoleFrontMatter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: ShortText
    description: Text
    emoji: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    color: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    vibe: Text
    tools: list[str] | None = None
    disallowed_tools: list[str] | None = None
    model: str | None = None
    backend: str | None = None  # the agent CLI this role's agents run on by default (claude, codex, …)
    task_kinds: list[TaskKind] = Field(default_factory=list)
    lead: bool = False

    @field_validator("tools", "disallowed_tools", "task_kinds", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("tools", "disallowed_tools", mode="after")
    @classmethod
    def _tool_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [item.strip() for item in value]
        bad = [item for item in cleaned if not _TOOL.match(item)]
        if bad:
            raise ValueError(f"not a tool name: {', '.join(repr(b) for b in bad)}")
        return _dedupe(cleaned)

    @field_validator("task_kinds", mode="after")
    @classmethod
    def _unique_kinds(cls, value: list[str]) -> list[str]:
        return _dedupe(value)

    @field_validator("backend", mode="after")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        if value is not None and value not in BACKEND_NAMES:
            raise ValueError(f"unknown backend {value!r} (one of {', '.join(BACKEND_NAMES)})")
        return value

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            # Claude Code sub-agent files say `model: inherit`: use the team's default.
            if value in ("", "inherit", "default"):
                return None
            if not _MODEL.match(value):
                raise ValueError(f"not a model name: {value!r}")
        return value


@dataclass(frozen=True, eq=False)
class Role:
    id: str
    category: str
    slug: str
    name: str
    description: str
    emoji: str
    color: str
    vibe: str
    tools: list[str] | None
    disallowed_tools: list[str] | None
    model: str | None
    task_kinds: list[str]
    lead: bool
    body: str
    path: Path
    backend: str | None = None

    def summary(self) -> dict[str, Any]:
        """The role as a list entry (no body)."""
        return {
            "id": self.id,
            "category": self.category,
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "emoji": self.emoji,
            "color": self.color,
            "vibe": self.vibe,
            "task_kinds": list(self.task_kinds),
            "lead": self.lead,
        }

    def detail(self) -> dict[str, Any]:
        """The role with its settings and full persona text."""
        return {
            **self.summary(),
            "tools": self.tools,
            "disallowed_tools": self.disallowed_tools,
            "model": self.model,
            "backend": self.backend,
            "body": self.body,
            "path": str(self.path),
        }


@dataclass(frozen=True)
class LoadError:
    """A file that could not be loaded, and why. The loader keeps going."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class BlueprintLead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Annotated[str, StringConstraints(strip_whitespace=True, pattern=ROLE_ID.pattern)]
    name: ShortText | None = None
    focus: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""


class BlueprintMember(BlueprintLead):
    count: int = Field(default=1, ge=1, le=10)


class BlueprintFile(BaseModel):
    """`roles/blueprints/<id>.yaml`. The id is the file stem."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: ShortText
    description: Text
    lead: BlueprintLead
    members: list[BlueprintMember] = Field(min_length=1, max_length=30)
    tags: list[ShortText] = Field(default_factory=list)

    @field_validator("lead", mode="before")
    @classmethod
    def _lead_shorthand(cls, value: Any) -> Any:
        return {"role": value} if isinstance(value, str) else value

    @field_validator("members", mode="before")
    @classmethod
    def _member_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"role": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _size(self) -> BlueprintFile:
        total = 1 + sum(member.count for member in self.members)
        if total > 40:
            raise ValueError(f"a blueprint team may have at most 40 agents (this one has {total})")
        return self


@dataclass(frozen=True, eq=False)
class Blueprint:
    id: str
    name: str
    description: str
    lead: BlueprintLead
    members: list[BlueprintMember]
    tags: list[str]
    path: Path

    @property
    def size(self) -> int:
        return 1 + sum(member.count for member in self.members)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "lead": self.lead.model_dump(exclude_defaults=True),
            "members": [m.model_dump(exclude_defaults=False) for m in self.members],
            "tags": list(self.tags),
            "size": self.size,
        }
