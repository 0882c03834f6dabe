"""shared.git's worktrees on a real repository: a task's worktree is made in one command when nothing is in the
way, and still made when its branch exists or git remembers a worktree there that vanished from disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared import git

pytestmark = pytest.mark.slow  # real git processes


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    (path / "README.md").write_text("first\n")
    git.init(path, "Team created")
    return path


def _worktree_branch(path: Path) -> str:
    return git.text(path, "rev-parse", "--abbrev-ref", "HEAD").strip()


def test_a_new_branch_starts_where_it_is_told(repo: Path, tmp_path: Path) -> None:
    start = git.head(repo, "main")
    (repo / "README.md").write_text("second\n")
    git.commit_all(repo, "main moves on")
    assert start is not None
    git.add_worktree(repo, tmp_path / "wt", "task/one", start)
    assert _worktree_branch(tmp_path / "wt") == "task/one"
    assert git.head(tmp_path / "wt") == start and (tmp_path / "wt" / "README.md").read_text() == "first\n"


def test_an_existing_branch_is_checked_out_as_it_is(repo: Path, tmp_path: Path) -> None:
    main = git.head(repo, "main")
    assert main is not None
    git.add_worktree(repo, tmp_path / "wt", "task/one", main)
    (tmp_path / "wt" / "work.txt").write_text("kept\n")
    kept = git.commit_all(tmp_path / "wt", "work")
    git.remove_worktree(repo, tmp_path / "wt")  # a tidied task, reopened later
    git.add_worktree(repo, tmp_path / "wt", "task/one", main)
    assert git.head(tmp_path / "wt") == kept and (tmp_path / "wt" / "work.txt").read_text() == "kept\n"


@pytest.mark.parametrize("had_commits", [False, True])
def test_a_worktree_that_vanished_from_disk_is_made_again(repo: Path, tmp_path: Path, had_commits: bool) -> None:
    main = git.head(repo, "main")
    assert main is not None
    git.add_worktree(repo, tmp_path / "wt", "task/one", main)
    expected = main
    if had_commits:
        (tmp_path / "wt" / "work.txt").write_text("kept\n")
        expected = git.commit_all(tmp_path / "wt", "work") or ""
    shutil.rmtree(tmp_path / "wt")  # git still has it registered
    assert "wt" in git.text(repo, "worktree", "list")
    git.add_worktree(repo, tmp_path / "wt", "task/one", main)
    assert _worktree_branch(tmp_path / "wt") == "task/one" and git.head(tmp_path / "wt") == expected
    assert len(git.text(repo, "worktree", "list").splitlines()) == 2  # the main line and this one, once
