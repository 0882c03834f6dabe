"""git, through git's own commands: a repository's refs, commits, worktrees, diffs, merges and objects.

Nothing here parses more than git's machine formats (`-z` lists, `--numstat`, `cat-file --batch-check`), and
nothing reads the working tree to answer a question about a commit: files, trees and archives are read from git's
objects at a ref, so a symlink or a path can never reach outside the repository (`lookup` follows symlinks
inside the tree with `cat-file --follow-symlinks`, which names a link that leads out instead of following it).

Agents can write into their repository's `.git` (they commit and merge in their worktrees), so every command
Gamma runs there ignores the settings that make git run programs: hooks, fsmonitor, external diff and textconv
drivers. The user's and the system's git configuration are not read either.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAIN = "main"
_SAFE_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "core.quotePath=false", "core.autocrlf=false",
                "commit.gpgSign=false", "gc.auto=0", "init.defaultBranch=main", "core.symlinks=true")
_HEX = re.compile(r"[0-9a-f]{7,64}")
SYSTEM_AUTHOR = ("Gamma", "gamma@localhost")


class GitError(Exception):
    """A git command failed; `stderr` says why."""

    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} exited {code}: {stderr.strip()[:2000]}")
        self.code = code
        self.stderr = stderr


def _env(author: tuple[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    name, email = author or SYSTEM_AUTHOR
    env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=SYSTEM_AUTHOR[0],
               GIT_COMMITTER_EMAIL=SYSTEM_AUTHOR[1])
    return env


def _bearer(token: str) -> dict[str, str]:
    """git configuration, through the environment (never the command line, which `ps` shows), that sends
    `Authorization: Bearer <token>` with every HTTP request."""
    # and straight to the web, never through a proxy from the environment, as gamma-agent and `gamma doctor` go
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}", "no_proxy": "*", "NO_PROXY": "*"}


def _argv(repo: Path, args: list[str]) -> list[str]:
    argv = ["git", "-C", str(repo)]
    for setting in _SAFE_CONFIG:
        argv += ["-c", setting]
    return argv + args


def git(repo: Path, *args: str, input: bytes | None = None, ok: tuple[int, ...] = (0,),
        author: tuple[str, str] | None = None, token: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run one git command in `repo`; raise GitError unless its exit code is in `ok`. `token`: the bearer token
    sent to a remote over HTTP (fetch, push)."""
    listed = list(args)
    env = _env(author)
    if token is not None:
        env.update(_bearer(token))
    done = subprocess.run(_argv(repo, listed), input=input, capture_output=True, env=env, check=False)
    if done.returncode not in ok:
        raise GitError(listed, done.returncode, done.stderr.decode(errors="replace"))
    return done


def text(repo: Path, *args: str, **kwargs: object) -> str:
    return git(repo, *args, **kwargs).stdout.decode(errors="replace")  # type: ignore[arg-type]


def stream(repo: Path, *args: str) -> subprocess.Popen[bytes]:
    """A command whose output the caller reads as it comes (an archive)."""
    return subprocess.Popen(_argv(repo, list(args)), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=_env())


# -------------------------------------------------------------------------------------------- repository


def is_repository(path: Path) -> bool:
    return (path / ".git").exists()


def init(path: Path, message: str, *, author: tuple[str, str] | None = None) -> str:
    """Make `path` a repository on `main` whose first commit holds what is already there."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", MAIN)
    sha = commit_all(path, message, author=author, allow_empty=True)
    assert sha is not None
    return sha


def init_empty(path: Path) -> None:
    """Make `path` a repository on `main` with no commit yet (a clone's first fetch fills it)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", MAIN)


def head(repo: Path, ref: str = "HEAD") -> str | None:
    """The commit `ref` names, or None."""
    done = git(repo, "rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}", ok=(0, 1, 128))
    return done.stdout.decode().strip() or None if done.returncode == 0 else None


def branch_exists(repo: Path, branch: str) -> bool:
    return git(repo, "show-ref", "--verify", "-q", f"refs/heads/{branch}", ok=(0, 1)).returncode == 0


def is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return git(repo, "merge-base", "--is-ancestor", commit, of, ok=(0, 1)).returncode == 0


def commit_all(worktree: Path, message: str, *, author: tuple[str, str] | None = None,
               allow_empty: bool = False) -> str | None:
    """Commit everything changed in `worktree` (new, modified, deleted; not what .gitignore ignores). Returns the
    new commit, or None when there was nothing to commit."""
    git(worktree, "add", "-A")
    staged = git(worktree, "diff", "--cached", "--quiet", ok=(0, 1)).returncode == 1
    if not staged and not allow_empty:
        return None
    git(worktree, "commit", "-q", "--no-verify", "--allow-empty", "-m", message, author=author)
    return head(worktree)


# Past this many loose objects a repository is packed (`pack_loose`). Gamma turns git's own automatic gc off (it
# would start in the background while agents work), so nothing else packs what agents commit.
LOOSE_OBJECTS_TO_PACK = 1000


def loose_objects(repo: Path) -> int:
    """How many loose objects the repository holds (`git count-objects -v`)."""
    for line in text(repo, "count-objects", "-v").splitlines():
        name, _, value = line.partition(": ")
        if name == "count":
            return int(value)
    return 0


def pack_loose(repo: Path, threshold: int | None = None) -> bool:
    """Pack the loose objects into a pack of their own once there are `threshold` of them (`git repack -d`: the
    packs already there stay). A fetch from a repository of loose objects makes the web deflate and search deltas
    for each one: a first fetch of 50 MB took 6 s against 0.9 s packed (bench/results/remote_start.md)."""
    if loose_objects(repo) < (LOOSE_OBJECTS_TO_PACK if threshold is None else threshold):
        return False
    git(repo, "repack", "-d", "-q")
    return True


def is_dirty(worktree: Path) -> bool:
    return bool(git(worktree, "status", "--porcelain", "-z", "--untracked-files=all").stdout)


# --------------------------------------------------------------------------------------------- worktrees


ANY_EXIT = tuple(range(256))  # a command whose failure the caller looks into itself


def add_worktree(repo: Path, path: Path, branch: str, start: str) -> None:
    """A worktree at `path` on `branch`: the branch is made from `start` unless it exists (a task resumed). A
    worktree git still has registered at `path` that vanished from disk is pruned first.

    One command in the common case (a task's first run: a new branch, nothing registered there); only when that
    fails does it look at what is there, and then starts again from a pruned list on the branch as it is."""
    fresh = ("worktree", "add", "-q", "-b", branch, str(path), start)
    if git(repo, *fresh, ok=ANY_EXIT).returncode == 0:
        return
    git(repo, "worktree", "prune")
    if branch_exists(repo, branch):  # also when the attempt above made it and then refused the path
        git(repo, "worktree", "add", "-q", str(path), branch)
    else:
        git(repo, *fresh)


def remove_worktree(repo: Path, path: Path) -> None:
    """Remove a worktree whose changes the caller committed (ignored files go with it); prune a vanished one."""
    if path.exists():
        git(repo, "worktree", "remove", "--force", str(path))
    git(repo, "worktree", "prune")


def add_detached_worktree(repo: Path, path: Path, commit: str) -> None:
    git(repo, "worktree", "add", "-q", "--detach", str(path), commit)


# ---------------------------------------------------------------------------------------- changes, merge


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | modified | deleted | renamed | copied | type_changed
    added: int | None  # lines; None for a binary file
    deleted: int | None
    old_path: str | None = None

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"path": self.path, "status": self.status, "added": self.added,
                                    "deleted": self.deleted, "binary": self.added is None}
        if self.old_path:
            found["old_path"] = self.old_path
        return found


_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type_changed"}


def changed_files(repo: Path, base: str, head_ref: str) -> list[FileChange]:
    """What `head_ref` changed since `base` (their merge base), file by file, with line counts."""
    spec = f"{base}...{head_ref}"
    statuses = git(repo, "diff", "--no-ext-diff", "--no-textconv", "--name-status", "-z", "-M", spec).stdout
    counts = git(repo, "diff", "--no-ext-diff", "--no-textconv", "--numstat", "-z", "-M", spec).stdout
    lines: dict[str, tuple[int | None, int | None]] = {}
    fields = counts.split(b"\0")
    i = 0
    while i < len(fields) and fields[i]:
        added, deleted, name = fields[i].split(b"\t", 2)
        if not name:  # a rename: the old and the new path follow
            name = fields[i + 2]
            i += 2
        lines[name.decode(errors="replace")] = (None, None) if added == b"-" else (int(added), int(deleted))
        i += 1
    found = []
    parts = statuses.split(b"\0")
    i = 0
    while i < len(parts) and parts[i]:
        code = parts[i].decode()[:1]
        if code in ("R", "C"):
            old, new = parts[i + 1].decode(errors="replace"), parts[i + 2].decode(errors="replace")
            i += 3
        else:
            old, new = None, parts[i + 1].decode(errors="replace")
            i += 2
        added, deleted = lines.get(new, (None, None))
        found.append(FileChange(new, _STATUS.get(code, "modified"), added, deleted, old))
    return found


def commits_between(repo: Path, base: str, head_ref: str, limit: int = 200) -> list[dict[str, str]]:
    return log(repo, f"{base}..{head_ref}", limit=limit)


def log(repo: Path, ref: str, *, limit: int = 50, path: str | None = None) -> list[dict[str, str]]:
    args = ["log", f"--max-count={limit}", "--format=%H%x00%an%x00%ae%x00%aI%x00%s%x00%b%x1e", ref]
    if path:
        args += ["--", path]
    found = []
    for record in text(repo, *args).split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, name, email, when, subject, body = record.split("\x00", 5)
        found.append({"sha": sha, "author": name, "email": email, "date": when, "subject": subject,
                      "body": body.strip()})
    return found


def diff(repo: Path, base: str, head_ref: str, *, path: str | None = None) -> str:
    """The unified diff of what `head_ref` changed since its merge base with `base`."""
    args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color", "-M", f"{base}...{head_ref}"]
    if path:
        args += ["--", path]
    return text(repo, *args)


@dataclass(frozen=True)
class Merge:
    clean: bool
    tree: str
    conflicts: tuple[str, ...]


def merge_tree(repo: Path, ours: str, theirs: str) -> Merge:
    """The merge of two commits, computed without touching any working tree (`git merge-tree --write-tree`)."""
    done = git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs, ok=(0, 1))
    parts = [p.decode(errors="replace") for p in done.stdout.split(b"\0") if p]
    return Merge(clean=done.returncode == 0, tree=parts[0], conflicts=tuple(dict.fromkeys(parts[1:])))


def commit_tree(repo: Path, tree: str, parents: list[str], message: str, *,
                author: tuple[str, str] | None = None) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    return text(repo, *args, "-m", message, author=author).strip()


def fast_forward(worktree: Path, commit: str) -> None:
    """Move the branch checked out in `worktree` (and its files) forward to `commit`."""
    git(worktree, "merge", "-q", "--ff-only", "--no-verify", commit)


# --------------------------------------------------------------------------------------- objects at a ref


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    type: str  # blob | tree | commit (a submodule)
    mode: str
    size: int | None


def tree(repo: Path, commit: str, directory: str = "") -> list[Entry]:
    """The entries of one directory at `commit` (directories first)."""
    target = f"{commit}:{directory}" if directory else f"{commit}^{{tree}}"
    out = git(repo, "ls-tree", "-z", "--long", target).stdout
    found = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, name_bytes = record.split(b"\t", 1)
        mode, kind, _sha, size = meta.decode().split(None, 3)
        name = name_bytes.decode(errors="replace")
        found.append(Entry(name, f"{directory}/{name}" if directory else name, kind, mode,
                           int(size) if size.strip().isdigit() else None))
    return sorted(found, key=lambda e: (e.type != "tree", e.name))


@dataclass(frozen=True)
class Lookup:
    """What a path names at a commit: `kind` is blob, tree, missing, or outside (a symlink leading out of the
    repository), dangling, loop or notdir; `sha` and `size` for a blob or tree."""

    kind: str
    sha: str | None = None
    size: int | None = None
    mode: str | None = None


def lookup(repo: Path, commit: str, path: str) -> Lookup:
    """Resolve `path` at `commit`, following symlinks inside the tree (git's own resolution)."""
    spec = f"{commit}:{path}" if path else f"{commit}^{{tree}}"
    out = git(repo, "cat-file", "--batch-check", "--follow-symlinks", input=spec.encode() + b"\n").stdout.decode(
        errors="replace")
    first = out.split("\n", 1)[0].split()
    if not first or first[-1] == "missing":
        return Lookup("missing")
    if first[0] in ("symlink", "dangling", "loop", "notdir"):
        return Lookup("outside" if first[0] == "symlink" else first[0])
    sha, kind, size = first[0], first[1], int(first[2])
    return Lookup(kind, sha, size)


def blob(repo: Path, sha: str, limit: int | None = None) -> bytes:
    data = git(repo, "cat-file", "blob", sha).stdout
    return data if limit is None else data[:limit]


def blob_chunks(repo: Path, sha: str) -> Iterator[bytes]:
    return chunks(repo, "cat-file", "blob", sha)


def chunks(repo: Path, *args: str, size: int = 65536) -> Iterator[bytes]:
    """A command's output as it comes, in chunks (a blob, an archive); the process ends with the iterator."""
    process = stream(repo, *args)
    assert process.stdout is not None
    try:
        while data := process.stdout.read(size):
            yield data
    finally:
        process.stdout.close()
        process.wait()


# ------------------------------------------------------------------------------------ another host, over HTTP


def http_backend(root: Path, cgi: dict[str, str], *, config: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """git's own smart-HTTP server (`git http-backend`, a CGI program) for the repositories under `root`: the
    caller writes the request body to its stdin and reads the CGI response (headers, blank line, body) from its
    stdout. `cgi` holds the CGI variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_TYPE, …)."""
    argv = ["git"]
    for setting in (*_SAFE_CONFIG, *config):
        argv += ["-c", setting]
    env = {**_env(), **cgi, "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1"}
    return subprocess.Popen([*argv, "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)


INCOMING = "refs/gamma/incoming"  # where a run on another host pushes its branch; the web moves the real one


def incoming_prefix(run_id: str) -> str:
    return f"{INCOMING}/{run_id}/"


def incoming_ref(run_id: str, branch: str) -> str:
    return f"{incoming_prefix(run_id)}heads/{branch}"


def fetch(repo: Path, url: str, token: str, *refspecs: str) -> None:
    """Fetch `refspecs` from the repository at `url` (forced, pruned), authenticated by `token`."""
    git(repo, "fetch", "-q", "--no-tags", "--prune", "--no-write-fetch-head", url, *refspecs, token=token)


def push(repo: Path, url: str, token: str, refspec: str) -> None:
    """Push one refspec to `url`. The server shows a pusher only its own incoming refs, so the objects both have
    are found by negotiating as a fetch does (`push.negotiate`), instead of sending the whole history."""
    git(repo, "-c", "push.negotiate=true", "push", "-q", "--no-verify", "--force", url, refspec, token=token)


def update_ref(repo: Path, ref: str, commit: str) -> None:
    git(repo, "update-ref", ref, commit)


def delete_refs(repo: Path, prefix: str) -> None:
    """Delete every ref under `prefix` (e.g. `refs/gamma/incoming/<run>/`)."""
    found = text(repo, "for-each-ref", "--format=%(refname)", prefix).split()
    if found:
        git(repo, "update-ref", "--stdin", input="".join(f"delete {ref}\n" for ref in found).encode())


def refs(repo: Path, prefix: str) -> dict[str, str]:
    """The refs under `prefix` and their commits."""
    lines = text(repo, "for-each-ref", "--format=%(objectname) %(refname)", prefix).splitlines()
    return {name: sha for sha, name in (line.split(" ", 1) for line in lines)}


def reset_hard(worktree: Path, commit: str) -> None:
    """The branch checked out in `worktree`, and its files, set to `commit`."""
    git(worktree, "reset", "-q", "--hard", commit)


def is_commit_hex(ref: str) -> bool:
    return bool(_HEX.fullmatch(ref))
