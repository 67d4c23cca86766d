"""Project identity: the same key at capture and at injection.

A project is the top-level directory of the git repository that contains the
hook's ``cwd`` (the *main* worktree's top level, so linked worktrees share their
repository's memory), or the ``cwd`` itself outside git. It is computed from the
filesystem without running git: the hook cannot afford a subprocess.
"""


import os


def _first_line(path: str) -> str | None:
    """The first line of a regular file (never a FIFO a repository planted to block the hook)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.readline(4096).strip()
    except OSError:
        return None


def _pointer(base: str, target: str) -> str:
    """``target`` as an absolute, normalized path (git writes relative ones from ``base``)."""
    if not os.path.isabs(target):
        target = os.path.join(base, target)
    return os.path.normpath(target)


def _read_gitfile(path: str) -> str | None:
    """The directory a ``.git`` file points to (worktrees and submodules)."""
    line = _first_line(path)
    if not line or not line.startswith("gitdir:"):
        return None
    return _pointer(os.path.dirname(path), line[len("gitdir:"):].strip())


def _main_worktree(gitdir: str, dotgit: str) -> str | None:
    """For a linked worktree's gitdir (``<repo>/.git/worktrees/<name>``), the repo top level.

    Accepted only when git's own chain points back, so a ``.git`` file cannot claim
    another repository by naming it: the gitdir has ``HEAD``, it is the
    ``worktrees/<name>`` entry of the common directory it names, and that entry's
    ``gitdir`` file names this very ``.git`` file.
    """
    if not os.path.isfile(os.path.join(gitdir, "HEAD")):
        return None
    common = _first_line(os.path.join(gitdir, "commondir"))
    back = _first_line(os.path.join(gitdir, "gitdir"))
    if not common or not back:
        return None
    common = _pointer(gitdir, common)
    real_gitdir = os.path.realpath(gitdir)
    entry = os.path.join(common, "worktrees", os.path.basename(real_gitdir))
    if os.path.realpath(entry) != real_gitdir or not os.path.isfile(os.path.join(common, "HEAD")):
        return None
    if os.path.realpath(_pointer(gitdir, back)) != os.path.realpath(dotgit):
        return None
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
                main = _main_worktree(gitdir, dotgit)
                if main:
                    return os.path.realpath(main)
            return path  # a submodule, a copied or forged pointer: its own top level
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
