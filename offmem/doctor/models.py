"""Check: the embedder's and the summarizer's models are installed and verify."""

from __future__ import annotations

from pathlib import Path

from offmem.config import Settings
from offmem.doctor.base import FAIL, OK, WARN, Check, Context, human


_FALLBACK = {
    "summarizer": "the pipeline compresses with rules meanwhile",
    "embedder": "search is keyword-only meanwhile",
}


def _role_is_local(settings: Settings, role: str) -> bool:
    backend = getattr(settings, role).backend
    return backend == "llamacpp" if role == "summarizer" else backend != "none"


def check_models(ctx: Context) -> list[Check]:
    from offmem.models import ModelError, load_catalog

    try:
        catalog = load_catalog(ctx.settings.home)
    except ModelError as exc:
        return [Check("models", FAIL, str(exc), "fix the models.toml named above, or remove $OFFMEM_HOME/models.toml")]
    return [_check_role_model(ctx, catalog, role) for role in ("embedder", "summarizer")]


def _embedder_runner(settings: Settings, path: Path) -> str:
    """Which backend will run the embedding model, and why when ``auto`` cannot use numpy."""
    backend = settings.embedder.backend
    if backend != "auto":
        return f"{backend} (embedder.backend)"
    from offmem.embed.numpy_backend import supports

    reason = supports(path)
    return "numpy (no PyTorch)" if reason is None else f"sentence-transformers ({reason})"


def _check_role_model(ctx: Context, catalog, role: str) -> Check:
    from offmem.models import ModelError, inspect_model, selected_name
    from offmem.models.local import load_path, partial_bytes

    name = f"{role} model"
    settings = ctx.settings
    if not _role_is_local(settings, role):
        return Check(name, OK, f"no local model used ({role}.backend = {getattr(settings, role).backend!r})")
    try:
        spec = catalog.get(selected_name(settings, catalog, role))
    except ModelError as exc:
        default = catalog.defaults.get(role, "")
        return Check(name, FAIL, str(exc), f"offmem config set {role}.model {default}")
    state = inspect_model(settings.models_dir, spec, full=ctx.full)
    if state.verified:
        where = load_path(settings.models_dir, spec)
        runner = f", run by {_embedder_runner(settings, where)}" if role == "embedder" else ""
        return Check(name, OK, f"{spec.name} verified ({human(spec.size)}) at {where}{runner}")
    if state.state == "missing":
        partial = partial_bytes(settings.models_dir, spec.name)
        resume = f"; {human(partial)} downloaded so far, the pull resumes" if partial else ""
        return Check(name, FAIL, f"{spec.name} is not installed ({state.detail}){resume}; {_FALLBACK[role]}",
                     f"offmem pull-models {spec.name}")
    if state.state == "corrupt":
        return Check(name, FAIL, f"{spec.name} is damaged: {state.detail}; {_FALLBACK[role]}",
                     f"offmem pull-models --force {spec.name}")
    return Check(name, WARN, f"{spec.name} cannot be verified: {state.detail}",
                 f"pin its sha256 in models.toml, or `offmem pull-models --force --allow-unpinned {spec.name}`")