"""Private file modes: what offmem keeps is readable by its user only.

Everything under the data directory (database and its WAL, logs, spool, token,
Chroma, models, config, backups) is 0600 and every directory 0700, whatever the
caller's umask:

- :func:`restrict_umask` at the entry of every process offmem runs (the hook, the
  worker, the CLI and the MCP server it starts) makes what they create private,
  including the files libraries create on their own (SQLite's -wal and -shm,
  Chroma's store);
- :func:`private_database` pre-creates the database 0600 and repairs it, its side
  files and its directory each time it is opened;
- :func:`repair_tree` takes group and other access away from an existing data
  directory (an install made under an older offmem), once per worker start.

Standard library only: the hook imports it.
"""

import os
import stat

PRIVATE_UMASK = 0o077
_OPEN = 0o077  # permission bits that let someone else in
_original_umask = None


def restrict_umask() -> int:
    """Set this process's umask so that nothing it creates is group or world accessible.

    Keeps bits of a stricter umask; returns the umask in force before the first call.
    """
    global _original_umask
    old = os.umask(PRIVATE_UMASK)
    if old | PRIVATE_UMASK != PRIVATE_UMASK:
        os.umask(old | PRIVATE_UMASK)
    if _original_umask is None:
        _original_umask = old
    return _original_umask


def original_umask() -> int:
    """The umask the process started with (before :func:`restrict_umask`)."""
    if _original_umask is not None:
        return _original_umask
    current = os.umask(PRIVATE_UMASK)
    os.umask(current)
    return current


def make_private(path) -> bool:
    """Strip group and other permissions from one file or directory; True when it changed.

    Symbolic links are left alone (never followed), so are files of other users, and a
    shared sticky directory such as /tmp. Errors (read-only file system, ...) are ignored:
    the caller goes on with what it can use.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return False
    mode = st.st_mode
    if not mode & _OPEN or stat.S_ISLNK(mode) or st.st_uid != os.geteuid():
        return False
    if stat.S_ISDIR(mode):
        if mode & stat.S_ISVTX:
            return False
        new = stat.S_IMODE(mode) & 0o700 | 0o700
    elif stat.S_ISREG(mode):
        new = stat.S_IMODE(mode) & 0o700
    else:
        return False
    try:
        os.chmod(path, new)
    except OSError:
        return False
    return True


def repair_tree(home) -> int:
    """Make the data directory and everything under it private; returns how many entries changed.

    Does not follow symbolic links (a models folder linked from elsewhere keeps its modes).
    """
    home = os.fspath(home)
    if not os.path.isdir(home) or os.path.islink(home):
        return 0
    changed = int(make_private(home))
    for root, dirs, files in os.walk(home, onerror=lambda exc: None):
        for name in dirs + files:
            changed += make_private(os.path.join(root, name))
    return changed


DATABASE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_database(path) -> None:
    """Create the database file 0600 if it is missing; repair it, its side files and its directory.

    SQLite creates ``-wal`` and ``-shm`` with the database file's permissions, so a
    private database file keeps them private too.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        pass  # sqlite3 reports what is wrong with the path
    make_private(directory)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        pass  # it exists (repaired below), or sqlite3 will say why it cannot be created
    for suffix in ("", *DATABASE_SIDE_FILES):
        make_private(path + suffix)
