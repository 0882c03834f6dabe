"""How a worker's clone on another host follows the web's main line before a run (workers/repo_sync.py), with real
git: never under a lead's run that works in the checkout; an interrupted lead attempt's leftovers are kept and
merged with what the web has; a clean clone behind the web catches up."""

from __future__ import annotations

from pathlib import Path

from shared import git
from workers.repo_sync import _follow_main


def _repos(tmp_path: Path) -> tuple[Path, Path]:
    web = tmp_path / "web"
    git.init(web, "first")
    clone = tmp_path / "clone"
    git.init_empty(clone)
    git.fetch(clone, str(web), "unused-token", "+refs/heads/*:refs/remotes/web/*")
    _follow_main(clone, str(git.head(clone, "refs/remotes/web/main")), writes_main=False)
    return web, clone


def _web_moves(web: Path, clone: Path, name: str) -> str:
    (web / name).write_text(f"{name}\n")
    git.commit_all(web, f"add {name}")
    git.fetch(clone, str(web), "unused-token", "+refs/heads/*:refs/remotes/web/*")
    return str(git.head(clone, "refs/remotes/web/main"))


def test_a_clean_clone_behind_the_web_catches_up(tmp_path: Path) -> None:
    web, clone = _repos(tmp_path)
    assert git.head(clone, "main") == git.head(web, "main")
    ahead = _web_moves(web, clone, "a.md")
    _follow_main(clone, ahead, writes_main=False)
    assert git.head(clone, "main") == ahead and (clone / "a.md").exists()


def test_a_checkout_a_lead_works_in_is_left_alone_for_other_runs(tmp_path: Path) -> None:
    web, clone = _repos(tmp_path)
    before = git.head(clone, "main")
    (clone / "draft.md").write_text("the lead is writing this\n")
    ahead = _web_moves(web, clone, "a.md")
    _follow_main(clone, ahead, writes_main=False)
    assert git.head(clone, "main") == before
    assert (clone / "draft.md").read_text() == "the lead is writing this\n", "its work in progress is untouched"


def test_an_interrupted_lead_attempts_leftovers_are_kept_and_merged_with_the_web(tmp_path: Path) -> None:
    web, clone = _repos(tmp_path)
    (clone / "draft.md").write_text("left by an attempt that died\n")
    ahead = _web_moves(web, clone, "a.md")
    _follow_main(clone, ahead, writes_main=True)
    main = str(git.head(clone, "main"))
    assert git.is_ancestor(clone, ahead, main), "the web's main line is in it"
    assert git.text(clone, "show", f"{main}:draft.md") == "left by an attempt that died\n"
    assert not git.is_dirty(clone)
