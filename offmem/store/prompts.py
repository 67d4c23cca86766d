"""The ``prompts`` table: what the user typed, numbered per session (redacted by the hook)."""


def _project(project: str | None) -> tuple[str, list]:
    return (" AND project = ?", [project]) if project else ("", [])


def session_prompts(conn, session_id: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT text FROM prompts WHERE session_id = ? ORDER BY prompt_number",
                                       (session_id,))]


def prompt_at(conn, session_id: str, number: int) -> str | None:
    """The text of prompt ``number`` of ``session_id`` (None when there is none)."""
    row = conn.execute("SELECT text FROM prompts WHERE session_id = ? AND prompt_number = ?",
                       (session_id, number)).fetchone()
    return None if row is None else row[0]


def has_prompt(conn, session_id: str, text: str) -> bool:
    """Whether ``session_id`` holds a prompt of exactly ``text``."""
    return conn.execute("SELECT 1 FROM prompts WHERE session_id = ? AND text = ?",
                        (session_id, text)).fetchone() is not None


def next_prompt_number(conn, session_id: str) -> int:
    return conn.execute("SELECT coalesce(max(prompt_number), 0) + 1 FROM prompts WHERE session_id = ?",
                        (session_id,)).fetchone()[0]


def insert_prompt(conn, session_id: str, project: str, number: int, text: str, at: str) -> None:
    conn.execute("INSERT INTO prompts (session_id, project, prompt_number, text, created_at) VALUES (?, ?, ?, ?, ?)",
                 (session_id, project, number, text, at))


def count_prompts(conn, project: str | None = None) -> int:
    where, args = _project(project)
    return int(conn.execute(f"SELECT count(*) FROM prompts WHERE 1{where}", args).fetchone()[0])


def iter_rows(conn, project: str | None = None):
    """Every prompts row (of ``project``), oldest first: what ``offmem export`` writes."""
    where, args = _project(project)
    yield from conn.execute(f"SELECT * FROM prompts WHERE 1{where} ORDER BY id", args)
