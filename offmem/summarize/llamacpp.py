"""The default backend: a local GGUF model through llama-cpp-python.

Output is constrained by a grammar built from the prompt's JSON schema, so the
model can only write an object of the right shape; each call is time-boxed
(``summarizer.timeout_s``) and capped at ``summarizer.max_tokens``.

``llama_cpp`` is imported only when a model is loaded, never at import time.

CPUs with AMX: llama.cpp's extra CPU buffer types (weight repacking, the AMX
kernels) crash with a general-protection fault in virtual machines that report
AMX but do not enable it (seen on Firecracker VMs). :func:`open_llama` leaves
them off on CPUs that report AMX; ``OFFMEM_LLAMA_EXTRA_BUFFERS=1`` or ``=0``
forces the choice.

Busy CPUs: llama.cpp's OpenMP threads spin while they wait for each other. On
a machine where other work competes for the cores (the editor, the embedder,
tests), spinning threads starve the one doing the work: on 2 busy cores a
60-token answer took 58 s with spinning and 1.7 s without. Unless the user set
``OMP_WAIT_POLICY`` themselves, it is set to ``PASSIVE`` before llama_cpp (and
its OpenMP runtime) is first imported. torch ships its own ``libgomp.so.1``,
which llama.cpp then shares: a process that imports torch first must call
:func:`prepare_runtime` before that import for the setting to take effect.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

from offmem.errors import SummarizerError
from offmem.summarize import prompts
from offmem.summarize.base import Reply, Summarizer

EXTRA_BUFFERS_ENV = "OFFMEM_LLAMA_EXTRA_BUFFERS"
_params_lock = threading.Lock()


def prepare_runtime() -> None:
    """Environment llama.cpp's runtime reads when it loads; call before importing llama_cpp."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cpu_reports_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def extra_buffers_wanted() -> bool:
    """Whether to let llama.cpp repack weights into its extra buffer types."""
    forced = os.environ.get(EXTRA_BUFFERS_ENV, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    return not cpu_reports_amx()


@contextlib.contextmanager
def model_params(extra_buffers: bool):
    """Make llama-cpp-python build its model params with ``use_extra_bufts`` set as asked.

    ``Llama()`` takes no argument for it, so the default-params factory it calls
    is wrapped while the model loads (and for a server process, while it runs).
    """
    prepare_runtime()
    import llama_cpp.llama_cpp as capi

    with _params_lock:
        original = capi.llama_model_default_params

        def params():
            p = original()
            p.use_extra_bufts = extra_buffers
            return p

        capi.llama_model_default_params = params
        try:
            yield
        finally:
            capi.llama_model_default_params = original


def open_llama(path: str | Path, *, n_ctx: int, n_threads: int = 0, n_batch: int = 256,
               extra_buffers: bool | None = None):
    """A ``llama_cpp.Llama`` for ``path``: quiet, safe on AMX-reporting VMs and on busy CPUs.

    ``n_batch`` (also the micro-batch) sizes llama.cpp's compute buffer, which is
    dominated by one row of logits per token in flight: a 152k-token vocabulary makes
    that 0.6 MB a token. 256 instead of llama-cpp-python's 512 made Qwen2.5-Coder-0.5B
    22 MiB smaller at its peak with no measurable change in call time (bench_summarizer:
    12.2 vs 12.5 s a cold batch, 11.4 vs 11.3 s warm).
    """
    prepare_runtime()
    from llama_cpp import Llama

    want = extra_buffers_wanted() if extra_buffers is None else extra_buffers
    with model_params(want):
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=min(n_batch, n_ctx),
            n_ubatch=min(n_batch, n_ctx),
            n_threads=n_threads or (os.cpu_count() or 1),
            verbose=False,
        )


class _TokenCounter:
    """A logits processor that only counts: prompt tokens (first call) and sampled tokens.

    llama-cpp-python calls it from C once per sampled token; exceptions raised
    here would be swallowed there, so the deadline is enforced by the caller.
    """

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.sampled = 0

    def __call__(self, input_ids, scores):
        if self.sampled == 0:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        return scores


class LlamaCppSummarizer(Summarizer):
    """Local GGUF models: one for the units of work, and (``summarizer.summary_model``) optionally
    another for the few session summaries; one llama.cpp instance when both are the same file."""

    name = "llamacpp"

    def __init__(self, settings, model_path: str | Path | None = None) -> None:
        super().__init__(settings)
        self._explicit_path = Path(model_path) if model_path else None
        self._path: Path | None = None  # the first model loaded (the units' unless the rules title them)
        self._llm = None
        self._summary_path: Path | None = None
        self._summary_llm = None
        self._grammars: dict[str, object] = {}
        self._load_lock = threading.Lock()

    @property
    def model(self) -> str:
        if self._path is not None:
            return self._path.name
        if self._explicit_path is not None:
            return self._explicit_path.name
        return self.settings.summarizer.model or "default"

    def model_path(self, role: str = "units") -> Path:
        """The GGUF file for ``role`` ("units" or "summary"): ``summarizer.summary_model`` for the
        summaries when set, else the explicit path, else models.toml's summarizer entry."""
        named = (getattr(self.settings.summarizer, "summary_model", "") or "").strip() if role == "summary" else ""
        if self._explicit_path is not None and not named:
            return self._explicit_path
        try:
            from offmem.models import resolve_model_path
        except ImportError as exc:
            raise SummarizerError(
                "no model path given and offmem.models is not available to resolve one; "
                "pass model_path or set summarizer.backend = \"rules\""
            ) from exc
        try:
            return Path(resolve_model_path(self.settings, "summarizer", named or self.settings.summarizer.model or None))
        except SummarizerError:
            raise
        except Exception as exc:  # ModelMissingError and friends carry the fix in their message
            raise SummarizerError(f"no local summarizer model: {exc}") from exc

    def load(self) -> None:
        with self._load_lock:
            if self._llm is not None:
                return
            roles = (["units"] if self.writes_units else []) + ["summary"]
            paths = {role: self.model_path(role) for role in roles}
            started = time.perf_counter()
            opened: dict[Path, object] = {}
            for path in paths.values():
                if path not in opened:
                    opened[path] = self._open(path)
            self._path = paths[roles[0]]
            self._llm = opened[self._path]
            self._summary_path = paths["summary"]
            self._summary_llm = opened[self._summary_path]
            self.load_seconds = time.perf_counter() - started

    def _open(self, path: Path):
        if not path.is_file():
            raise SummarizerError(
                f"summarizer model file {path} does not exist; run `offmem pull-models` "
                "or set summarizer.backend = \"rules\""
            )
        try:
            return open_llama(
                path, n_ctx=int(self.settings.summarizer.n_ctx), n_threads=int(self.settings.summarizer.n_threads),
                n_batch=max(32, int(getattr(self.settings.summarizer, "n_batch", 256))),
            )
        except ImportError as exc:
            raise SummarizerError(
                "llama-cpp-python is not installed; `pip install 'offmem[local]'` or use another backend"
            ) from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise SummarizerError(f"llama.cpp could not load {path}: {exc} (is it a valid GGUF file?)") from exc

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def status(self) -> dict:
        info = super().status()
        info["model_path"] = str(self._path or self._explicit_path or "")
        if self._summary_path is not None and self._summary_path != self._path:
            info["summary_model_path"] = str(self._summary_path)
        return info

    def _grammar(self, prompt: prompts.Prompt):
        key = json.dumps(prompt.schema, sort_keys=True)  # a summary's schema depends on the fields asked
        grammar = self._grammars.get(key)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_json_schema(json.dumps(prompt.schema), verbose=False)
            except Exception as exc:
                raise SummarizerError(f"cannot build a grammar for {prompt.schema_name}: {exc}") from exc
            self._grammars[key] = grammar
        return grammar

    def complete(self, prompt: prompts.Prompt, max_tokens: int) -> Reply:
        self.load()
        from llama_cpp import LogitsProcessorList

        llm = self._summary_llm if prompt.schema_name == prompts.SUMMARY_SCHEMA_NAME else self._llm
        timeout = float(self.settings.summarizer.timeout_s)
        ends = time.monotonic() + timeout
        counter = _TokenCounter()
        try:
            stream = llm.create_chat_completion(
                messages=prompt.chat(),
                grammar=self._grammar(prompt),
                max_tokens=max_tokens,
                temperature=float(self.settings.summarizer.temperature),
                logits_processor=LogitsProcessorList([counter]),
                stream=True,
            )
            text, finish = self._drain(stream, ends)
        except ValueError as exc:  # e.g. the prompt exceeds n_ctx
            raise SummarizerError(f"llama.cpp rejected the request: {exc} (raise summarizer.n_ctx?)") from exc
        if finish == "timeout":
            raise SummarizerError(
                f"llama.cpp call timed out after {timeout:g} s (summarizer.timeout_s); "
                "use smaller batches or a smaller model"
            )
        return Reply(
            text=text,
            prompt_tokens=counter.prompt_tokens,
            completion_tokens=max(0, counter.sampled - (finish == "stop")),  # the end token is no output
            finish_reason=finish,
        )

    @staticmethod
    def _drain(stream, ends: float) -> tuple[str, str]:
        """The streamed answer's text and finish reason ("timeout" if the deadline passed)."""
        parts: list[str] = []
        finish = ""
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                parts.append(choice.get("delta", {}).get("content") or "")
                finish = choice.get("finish_reason") or finish
                if time.monotonic() > ends and not finish:
                    return "".join(parts), "timeout"
        finally:
            stream.close()
        return "".join(parts), finish
