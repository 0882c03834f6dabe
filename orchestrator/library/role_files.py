"""Reading role Markdown files and blueprint YAML files from disk. Every bad file becomes a `LoadError`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.library.role_models import SEGMENT, Blueprint, BlueprintFile, LoadError, Role, RoleFrontMatter

MAX_FILE_BYTES = 512 * 1024
BLUEPRINTS_DIR = "blueprints"
# Documentation that lives next to roles in packs (and our own FORMAT.md), never a role. Packs also keep
# ALL-CAPS notes (AGENTS.md, SOUL.md, ACCEPTANCE_REPORT.md) in folders beside their roles: skipped too.
NOT_ROLES = frozenset({"readme", "format", "contributing", "changelog", "license", "code_of_conduct"})
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n(.*?)^---[ \t]*$\n?", re.DOTALL | re.MULTILINE)


class FileProblem(Exception):
    """Why one file cannot be loaded."""


@dataclass
class ScanResult:
    roles: list[Role] = field(default_factory=list)
    blueprints: list[Blueprint] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FileProblem(f"file too large ({size} bytes; the limit is {MAX_FILE_BYTES})")
        return path.read_bytes().decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n")
    except UnicodeDecodeError as error:
        raise FileProblem(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise FileProblem(f"cannot read: {error.strerror or error}") from None


def load_yaml_mapping(text: str, *, what: str, line_offset: int = 0) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f" at line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
        raise FileProblem(f"invalid YAML in the {what}{where}: {problem}") from None
    if data is None:
        raise FileProblem(f"the {what} is empty")
    if not isinstance(data, dict):
        raise FileProblem(f"the {what} must be a YAML mapping of fields, not a {type(data).__name__}")
    return data


def validate(model: type[BaseModel], data: dict[str, Any], *, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise FileProblem(f"invalid {what}: {describe_validation(error)}") from None


def split_front_matter(text: str) -> tuple[str, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        raise FileProblem("no YAML front matter (the file must start with a '---' line and close it with '---')")
    return match.group(1), text[match.end():]


def role_id_for(relative: Path) -> tuple[str, str]:
    """`engineering/backend-architect.md` -> (engineering, backend-architect); nested folders join the slug."""
    segments = [*relative.parts[:-1], relative.stem]
    bad = [s for s in segments if not SEGMENT.fullmatch(s)]
    if bad:
        raise FileProblem(f"{bad[0]!r} is not usable in a role id (letters, digits, '.', '_', '-')")
    return segments[0], "/".join(segments[1:])


def parse_role(path: Path, relative: Path) -> Role:
    category, slug = role_id_for(relative)
    front, body = split_front_matter(read_text(path))
    meta: RoleFrontMatter = validate(
        RoleFrontMatter, load_yaml_mapping(front, what="front matter", line_offset=1), what="front matter"
    )
    body = body.strip()
    if not body:
        raise FileProblem("no Markdown body after the front matter (the body is the role's persona)")
    return Role(
        id=f"{category}/{slug}",
        category=category,
        slug=slug,
        name=meta.name,
        description=meta.description,
        emoji=meta.emoji,
        color=meta.color,
        vibe=meta.vibe,
        tools=meta.tools,
        disallowed_tools=meta.disallowed_tools,
        model=meta.model,
        backend=meta.backend,
        task_kinds=list(meta.task_kinds),
        lead=meta.lead,
        body=body,
        path=path,
    )


def parse_blueprint(path: Path) -> Blueprint:
    blueprint_id = path.stem
    if not SEGMENT.fullmatch(blueprint_id):
        raise FileProblem(f"{blueprint_id!r} is not usable as a blueprint id (letters, digits, '.', '_', '-')")
    data: BlueprintFile = validate(BlueprintFile, load_yaml_mapping(read_text(path), what="blueprint"),
                                   what="blueprint")
    if data.id is not None and data.id != blueprint_id:
        raise FileProblem(f"id {data.id!r} does not match the file name (the id is the file stem {blueprint_id!r})")
    return Blueprint(
        id=blueprint_id,
        name=data.name,
        description=data.description,
        lead=data.lead,
        members=list(data.members),
        tags=list(data.tags),
        path=path,
    )


def _is_documentation(stem: str) -> bool:
    return stem.startswith((".", "_")) or stem.lower() in NOT_ROLES or stem.isupper()


def _role_files(root: Path) -> list[tuple[Path, Path]]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        relative_dir = here.relative_to(root)
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith((".", "_")) and not (relative_dir == Path(".") and d == BLUEPRINTS_DIR)
        )
        if relative_dir == Path("."):
            continue  # files at the top (README.md, FORMAT.md) belong to no category
        for name in sorted(filenames):
            path = here / name
            if name.endswith(".md") and not _is_documentation(path.stem):
                found.append((path, path.relative_to(root)))
    return found


def _blueprint_files(root: Path) -> list[Path]:
    folder = root / BLUEPRINTS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def scan_dir(root: Path) -> ScanResult:
    """Every role and blueprint under one directory; bad files are reported and skipped."""
    result = ScanResult()
    if not root.is_dir():
        result.errors.append(LoadError(str(root), "roles directory not found"))
        return result
    for path, relative in _role_files(root):
        try:
            result.roles.append(parse_role(path, relative))
        except FileProblem as problem:
            result.errors.append(LoadError(str(path), str(problem)))
    for path in _blueprint_files(root):
        try:
            result.blueprints.append(parse_blueprint(path))
        except FileProblem as problem:
            result.errors.append(LoadError(str(path), str(problem)))
    return result
