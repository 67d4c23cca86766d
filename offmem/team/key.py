"""The portable project key: the same repository gets the same key on every machine.

A project's local key is its path (:mod:`offmem.project`), which differs between
clones. The team key is the repository's ``origin`` remote URL (else its first
remote), normalized so that the usual spellings of one repository agree::

    git@github.com:Org/Repo.git            -> github.com/org/repo
    https://user:<token>@GitHub.com/org/repo/   -> github.com/org/repo
    ssh://git@git.lan:2222/team/app.git    -> git.lan:2222/team/app

It is read from ``.git/config`` as a file, never by running git: git reads the
repository's own configuration, which may name programs to run (``core.fsmonitor``,
``core.sshCommand``...), and nothing offmem starts runs code from the opened project.
A repository without a remote is joined with an explicit key (``offmem team join --key``).
"""

from __future__ import annotations

import configparser
import os
import re

from offmem.project import project_root

_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")  # git@host:path (scp-like)
_KEY = re.compile(r"^[a-z0-9][a-z0-9._:/~+-]{0,254}$")


def normalize_remote(url: str) -> str:
    """The team key of a remote URL: host[:port]/path, lowercase, without user, password,
    scheme, ``.git`` suffix or trailing slashes. ValueError for what is not a remote URL."""
    text = (url or "").strip()
    if not text:
        raise ValueError("empty remote URL")
    match = None if "://" in text else _SCP.match(text)
    if match:
        host, path = match.group(1), match.group(2)
    else:
        if "://" not in text:
            raise ValueError(f"not a remote URL: {text!r}")
        rest = text.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        host = authority.rsplit("@", 1)[-1]
        if authority.startswith("[") or not host:
            raise ValueError(f"not a remote URL: {text!r}")
        if host.endswith(":22") and text.lower().startswith("ssh://"):
            host = host[:-3]  # the default ssh port
        if host.endswith((":443", ":80")) and text.lower().startswith(("https://", "http://")):
            host = host.rsplit(":", 1)[0]
    path = path.strip("/")
    while path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    path = "/".join(part for part in path.split("/") if part and part != ".")
    if not host or not path or ".." in path.split("/"):
        raise ValueError(f"not a remote URL: {text!r}")
    return check_key(f"{host}/{path}".lower())


def check_key(key: str) -> str:
    """``key`` when it is a valid team project key, else ValueError."""
    key = (key or "").strip().lower()
    if not _KEY.match(key):
        raise ValueError(f"invalid team project key {key!r}: use letters, digits and . _ : / ~ + - (at most 255)")
    return key


def _git_config(project: str) -> str | None:
    """The path of the repository's config file (a linked worktree's is its common directory's)."""
    dotgit = os.path.join(project, ".git")
    if os.path.isdir(dotgit):
        path = os.path.join(dotgit, "config")
    elif os.path.isdir(os.path.join(project, "refs")) and os.path.isfile(os.path.join(project, "config")):
        path = os.path.join(project, "config")  # a bare repository (project_root gives its directory)
    else:
        return None
    return path if os.path.isfile(path) else None


def remote_url(project: str) -> str | None:
    """The URL of ``origin`` (else of the first remote) in the repository's config file; None without."""
    path = _git_config(project)
    if path is None:
        return None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            parser.read_string(fh.read(256 * 1024))
    except (OSError, configparser.Error):
        return None
    remotes = {}
    for section in parser.sections():
        match = re.match(r'^remote\s+"(.+)"$', section.strip())
        if match and parser.has_option(section, "url"):
            remotes[match.group(1)] = parser.get(section, "url").strip()
    if not remotes:
        return None
    return remotes.get("origin") or remotes[sorted(remotes)[0]]


def project_key(path: str) -> str | None:
    """The team key of the project containing ``path``: its normalized remote URL; None without one."""
    url = remote_url(project_root(path))
    if not url:
        return None
    try:
        return normalize_remote(url)
    except ValueError:
        return None
