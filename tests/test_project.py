"""Project identity is the same from the top level, a subdirectory and a worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from offmem.project import project_root, relative_path


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=path)
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("x = 1\n")
    git("add", ".", cwd=path)
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "init", cwd=path)
    return path


def test_git_toplevel_from_root_and_subdirectory(tmp_path):
    repo = make_repo(tmp_path / "repo")
    assert project_root(str(repo)) == str(repo.resolve())
    assert project_root(str(repo / "src")) == str(repo.resolve())


def test_linked_worktree_maps_to_main_repository(tmp_path):
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", str(worktree), "-b", "feature", cwd=repo)
    assert project_root(str(worktree)) == str(repo.resolve())
    assert project_root(str(worktree / "src")) == str(repo.resolve())
    # and git agrees about the common repository
    common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=worktree, capture_output=True, text=True).stdout.strip()
    assert Path(common).resolve() == (repo / ".git").resolve()


def test_outside_git_the_directory_itself(tmp_path):
    plain = tmp_path / "plain" / "deep"
    plain.mkdir(parents=True)
    assert project_root(str(plain)) == str(plain.resolve())


def test_missing_directory_is_used_as_given():
    assert project_root("/home/dev/shop-api") == "/home/dev/shop-api"


def test_symlinked_path_resolves_to_the_same_project(tmp_path):
    repo = make_repo(tmp_path / "repo")
    link = tmp_path / "link"
    link.symlink_to(repo)
    assert project_root(str(link / "src")) == project_root(str(repo))


def test_relative_path():
    assert relative_path("/p/src/a.py", "/p") == "src/a.py"
    assert relative_path("/elsewhere/a.py", "/p") == "/elsewhere/a.py"
    assert relative_path("src/a.py", "/p") == "src/a.py"
