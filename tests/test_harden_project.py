"""Project identity cannot be claimed by a ``.git`` file that merely names another repository.

A linked worktree shares its repository's memory only when git's own back-pointers
agree: the worktree's gitdir is ``<common>/worktrees/<name>``, it has ``HEAD``, and its
``gitdir`` file points at this very ``.git`` file. Anything else (an unpacked archive, a
copied worktree, a hand-written pointer) is a project of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fixture_payloads, run_hook
from offmem.project import project_root


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=path)
    (path / "app.py").write_text("x = 1\n")
    git("add", ".", cwd=path)
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "init", cwd=path)
    return path


@pytest.fixture
def victim(tmp_path) -> Path:
    """Another project of the user's, with a real linked worktree."""
    repo = make_repo(tmp_path / "victim")
    git("worktree", "add", "-q", str(tmp_path / "victim-wt"), "-b", "feature", cwd=repo)
    return repo


def test_a_gitfile_naming_another_repositorys_worktree_is_its_own_project(tmp_path, victim):
    archive = tmp_path / "unpacked"
    archive.mkdir()
    (archive / ".git").write_text(f"gitdir: {victim / '.git' / 'worktrees' / 'victim-wt'}\n")
    assert project_root(str(tmp_path / "victim-wt")) == str(victim.resolve())  # the real worktree still maps
    assert project_root(str(archive)) == str(archive.resolve())


def test_a_copied_worktree_is_its_own_project(tmp_path, victim):
    copy = tmp_path / "copy-of-wt"
    subprocess.run(["cp", "-a", str(tmp_path / "victim-wt"), str(copy)], check=True)
    assert (copy / ".git").is_file()
    assert project_root(str(copy)) == str(copy.resolve())


def test_a_handmade_gitdir_with_a_commondir_is_its_own_project(tmp_path, victim):
    archive = tmp_path / "archive"
    fake = archive / ".fake" / "worktrees" / "x"
    fake.mkdir(parents=True)
    (fake / "HEAD").write_text("ref: refs/heads/main\n")
    (fake / "commondir").write_text(str(victim / ".git") + "\n")
    (fake / "gitdir").write_text(str(archive / ".git") + "\n")  # points back at itself, but victim has no such worktree
    (archive / ".git").write_text("gitdir: .fake/worktrees/x\n")
    assert project_root(str(archive)) == str(archive.resolve())


def test_a_gitdir_without_head_is_not_a_worktree(tmp_path):
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", str(worktree), "-b", "feature", cwd=repo)
    assert project_root(str(worktree)) == str(repo.resolve())
    (repo / ".git" / "worktrees" / "wt" / "HEAD").unlink()
    assert project_root(str(worktree)) == str(worktree.resolve())


def test_worktree_with_relative_gitdir_pointers_still_maps(tmp_path):
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", str(worktree), "-b", "feature", cwd=repo)
    # the layout `git worktree add --relative-paths` (git 2.48) writes: both pointers relative
    (worktree / ".git").write_text("gitdir: ../repo/.git/worktrees/wt\n")
    (repo / ".git" / "worktrees" / "wt" / "gitdir").write_text("../../../../wt/.git\n")
    assert git("rev-parse", "--git-common-dir", cwd=worktree).strip()  # git accepts the layout
    assert project_root(str(worktree)) == str(repo.resolve())


def test_worktree_of_a_bare_repository_maps_to_the_bare_repository(tmp_path):
    source = make_repo(tmp_path / "source")
    bare = tmp_path / "bare.git"
    git("clone", "-q", "--bare", str(source), str(bare), cwd=tmp_path)
    worktree = tmp_path / "bare-wt"
    git("worktree", "add", "-q", str(worktree), "-b", "feature", cwd=bare)
    assert project_root(str(worktree)) == str(bare.resolve())


def test_the_hook_files_an_archives_events_under_the_archive_not_the_victim(tmp_path, victim, offmem_home):
    archive = tmp_path / "unpacked"
    archive.mkdir()
    (archive / ".git").write_text(f"gitdir: {victim / '.git' / 'worktrees' / 'victim-wt'}\n")
    payload = {**fixture_payloads()[0], "cwd": str(archive)}
    result = run_hook(payload)
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(offmem_home / "offmem.db")
    projects = {row[0] for row in conn.execute("SELECT project FROM events")}
    conn.close()
    assert projects == {str(archive.resolve())}, json.dumps(sorted(projects))


def test_a_fifo_in_place_of_a_pointer_file_does_not_block(tmp_path):
    archive = tmp_path / "archive"
    gitdir = archive / ".fake"
    gitdir.mkdir(parents=True)
    (gitdir / "HEAD").write_text("ref: refs/heads/main\n")
    os.mkfifo(gitdir / "commondir")  # opening it for reading would wait for a writer forever
    (archive / ".git").write_text("gitdir: .fake\n")
    done = subprocess.run([sys.executable, "-c", f"from offmem.project import project_root; print(project_root({str(archive)!r}))"],
                          capture_output=True, text=True, timeout=20)
    assert done.stdout.strip() == str(archive.resolve()), done.stderr
