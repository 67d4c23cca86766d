"""Project identity: the same key at capture and at injection.

A project is the top-level directory of the git repository that contains the
hook's ``cwd`` (the *main* worktree's top level, so linked worktrees share their
repository's memory), or the ``cwd`` itself outside git. It is computed from the
filesystem without running git: the hook cannot afford a subprocess.
"""


import os


def _read_gitfile(path: str) -> str | None:
    """The directory a ``.git`` file points to (worktrees and submodules)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            line = fh.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    target = line[len("gitdir:"):].strip()
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(path), target)
    return os.path.normpath(target)


def _main_worktree(gitdir: str) -> str | None:
    """For a linked worktree's gitdir (``<repo>/.git/worktrees/<name>``), the repo top level."""
    commondir_file = os.path.join(gitdir, "commondir")
    try:
        with open(commondir_file, encoding="utf-8", errors="replace") as fh:
            common = fh.read().strip()
    except OSError:
        return None
    if not os.path.isabs(common):
        common = os.path.join(gitdir, common)
    common = os.path.normpath(common)
    if os.path.basename(common) == ".git":
        return os.path.dirname(common)
    return common  # a bare repository: its directory is the identity


def project_root(cwd: str | None) -> str:
    """The project key for ``cwd``: a normalized absolute path."""
    if not cwd:
        cwd = os.getcwd()
    start = os.path.realpath(os.path.abspath(os.path.expanduser(cwd)))
    path = start
    while True:
        dotgit = os.path.join(path, ".git")
        if os.path.isdir(dotgit):
            return path
        if os.path.isfile(dotgit):
            gitdir = _read_gitfile(dotgit)
            if gitdir:
                main = _main_worktree(gitdir)
                if main:
                    return os.path.realpath(main)
            return path  # a submodule or an unusual layout: its own top level
        parent = os.path.dirname(path)
        if parent == path:
            return start
        path = parent


def project_name(project: str) -> str:
    return os.path.basename(project.rstrip("/")) or project


def relative_path(path: str, project: str) -> str:
    """``path`` relative to the project when inside it, else as given."""
    if not path:
        return path
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path, project)
        except ValueError:
            return path
        if not rel.startswith(".."):
            return rel
    return path
