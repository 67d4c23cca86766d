"""Commands: ``offmem pull-models``, ``offmem import-models``, ``offmem models``."""

from __future__ import annotations

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from offmem.cli.app import app
from offmem.errors import ModelError


class Role(str, Enum):
    embedder = "embedder"
    summarizer = "summarizer"


class SourceKind(str, Enum):
    hub = "hub"
    pypi = "pypi"


def _memory():
    from offmem.cli.core import memory

    return memory()


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _log(message: str) -> None:
    typer.echo(message, err=True)


from offmem.units import format_bytes as _human  # noqa: E402  (offmem's one byte formatter)


@contextlib.contextmanager
def _rich_bar(description: str, total: int):
    """A progress bar on stderr for copying, assembling and hashing."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total or None)
        yield lambda n: progress.advance(task, n)


def _quiet_hub() -> None:
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def _print_results(results, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        payload = {"ok": all(r.status != "failed" for r in results), "models": [r.to_dict() for r in results]}
        payload.update(extra or {})
        typer.echo(json.dumps(payload, indent=2))
        return
    marks = {"installed": "✓ installed", "present": "· already verified", "failed": "✗ FAILED"}
    for r in results:
        if r.status == "failed":
            typer.echo(f"{marks[r.status]}  {r.name}: {r.error}", err=True)
            continue
        where = f" from {r.source}" if r.source else ""
        timing = f", {r.seconds:.1f} s" if r.status == "installed" else ""
        typer.echo(f"{marks[r.status]}  {r.name}{where} ({_human(r.size)}{timing})\n    {r.path}")


@app.command("pull-models")
def pull_models_command(
    names: Optional[List[str]] = typer.Argument(None, help="Models to install (see `offmem models`)."),
    role: Optional[Role] = typer.Option(None, "--role", help="Install this role's default model; with NAMEs, check their role."),
    defaults: bool = typer.Option(False, "--defaults", help="Install the default embedder and summarizer (also what no NAME means)."),
    source: Optional[SourceKind] = typer.Option(None, "--source", help="Use only sources of this kind."),
    force: bool = typer.Option(False, "--force", help="Fetch again even when installed and verified."),
    allow_unpinned: bool = typer.Option(False, "--allow-unpinned", help="Accept files models.toml does not pin, recording their hash."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Also write the models, verified, into this tar for `offmem import-models`."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Install models into offmem's models directory, verified against models.toml.

    Hub sources honour HF_ENDPOINT (a mirror) and HF_TOKEN; interrupted downloads
    resume. Nothing is ever downloaded at run time.
    """
    mem = _memory()
    if as_json:
        _quiet_hub()
    bar = None if as_json else _rich_bar
    log = None if as_json else _log
    try:
        results, extra = mem.pull_models(names or (), role=role.value if role else None, defaults=defaults,
                                         kinds=(source.value,) if source else (), force=force,
                                         allow_unpinned=allow_unpinned, bundle=bundle, bar=bar, log=log)
    except (ModelError, OSError) as exc:
        _fail(str(exc))
        return
    _print_results(results, as_json, extra)
    if not as_json and extra["bundle"]:
        typer.echo(f"bundle written: {bundle} ({_human(extra['bundle']['size'])}); "
                   f"on the offline machine run `offmem import-models {bundle.name}`")
    if any(r.status == "failed" for r in results):
        if bundle is not None and not as_json:
            typer.echo("no bundle written: a model failed", err=True)
        raise typer.Exit(1)


@app.command("import-models")
def import_models_command(
    archive: Path = typer.Argument(..., help="A bundle made by `offmem pull-models --bundle FILE`."),
    names: Optional[List[str]] = typer.Argument(None, help="Only these models from the bundle."),
    force: bool = typer.Option(False, "--force", help="Replace models that are already installed."),
    allow_unpinned: bool = typer.Option(False, "--allow-unpinned",
                                        help="Accept files models.toml does not pin, trusting the bundle's manifest."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Verify and install the models in a bundle, for machines without network.

    Every file must match the sha256 the local models.toml pins; a file it does not
    pin is refused unless --allow-unpinned.
    """
    mem = _memory()
    try:
        results = mem.import_models(archive, names or None, force=force, bar=None if as_json else _rich_bar,
                                    allow_unpinned=allow_unpinned)
    except (ModelError, OSError) as exc:
        _fail(str(exc))
        return
    _print_results(results, as_json, {"models_dir": str(mem.settings.models_dir)})
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _state_label(status) -> str:
    if status.state == "missing" and status.partial_bytes:
        return f"partial ({_human(status.partial_bytes)})"
    return {"verified": "verified", "missing": "not installed", "corrupt": "DAMAGED", "unverified": "unverified"}[status.state]


@app.command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    verify: bool = typer.Option(False, "--verify", help="Rehash every installed file instead of trusting unchanged ones."),
) -> None:
    """List the models offmem knows, where each lives, whether it verifies, which are active."""
    try:
        found = _memory().models(full=verify)
    except ModelError as exc:
        _fail(str(exc))
        return
    statuses, catalog_paths = found["models"], found["catalog"]
    if as_json:
        typer.echo(json.dumps({"models_dir": str(found["models_dir"]), "catalog": catalog_paths,
                               "models": [s.to_dict() for s in statuses]}, indent=2))
        return
    _print_table(statuses, found["models_dir"], catalog_paths)


def _print_table(statuses, models_dir: Path, catalog_paths: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("", "name", "role", "size", "state", "licence"):
        table.add_column(column, no_wrap=column != "licence")
    for s in statuses:
        mark = "*" if s.active else ("d" if s.default else "")
        name = s.name + (" (test)" if s.test_only else "")
        table.add_row(mark, name, s.role, _human(s.size), _state_label(s), s.license.split(" (")[0])
    console = Console(soft_wrap=True, file=sys.stdout)
    console.print(table)
    console.print(f"* active   d default\nmodels live in {models_dir}/<name>\ncatalog: {', '.join(catalog_paths)}")
    missing = [s.name for s in statuses if s.active and not s.verified]
    if missing:
        console.print(f"active but not installed: {', '.join(missing)}; run `offmem pull-models {' '.join(missing)}`")
