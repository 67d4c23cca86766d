"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

For teams with one shared GPU box running Ollama, vLLM or llama.cpp's server.
``summarizer.openai_base_url`` is the API root including its version, as the
OpenAI SDK takes it (``http://gpu-box:11434/v1``); ``summarizer.openai_model``
names the model; the key, if the server wants one, is read from the variable
``summarizer.openai_api_key_env`` names and sent as a bearer token.

Structured output: the request asks for ``response_format`` ``json_schema``
(OpenAI, vLLM, Ollama). Servers that only know ``json_object`` with a
``schema`` (llama-cpp-python's server) reject that with HTTP 400/422/500; the
backend then switches to that form, once, and keeps using it.
"""

from __future__ import annotations

import os
import time

from offmem.errors import SummarizerError
from offmem.summarize import prompts
from offmem.summarize.base import Reply, Summarizer

JSON_SCHEMA, JSON_OBJECT = "json_schema", "json_object"


def response_format(mode: str, prompt: prompts.Prompt) -> dict:
    if mode == JSON_SCHEMA:
        return {
            "type": "json_schema",
            "json_schema": {"name": prompt.schema_name, "schema": prompt.schema, "strict": True},
        }
    return {"type": "json_object", "schema": prompt.schema}


def _rejects_format(response) -> bool:
    """A refusal of the json_schema form (llama-cpp-python's server answers 500 for it)."""
    if response.status_code not in (400, 422, 500):
        return False
    text = response.text.lower()
    return "response_format" in text or "json_schema" in text


class OpenAICompatSummarizer(Summarizer):
    name = "openai"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._client = None
        self.format_mode = JSON_SCHEMA

    @property
    def model(self) -> str:
        return self.settings.summarizer.openai_model

    @property
    def loaded(self) -> bool:
        return self._client is not None

    def status(self) -> dict:
        info = super().status()
        info["base_url"] = self.settings.summarizer.openai_base_url
        info["response_format"] = self.format_mode
        return info

    def load(self) -> None:
        """Check the configuration and build the HTTP client; no request is sent."""
        if self._client is not None:
            return
        base = (self.settings.summarizer.openai_base_url or "").strip()
        if not base.startswith(("http://", "https://")):
            raise SummarizerError(
                "summarizer.openai_base_url must be the server's API root, e.g. http://gpu-box:11434/v1 "
                f"(got {base!r})"
            )
        if not self.model:
            raise SummarizerError("summarizer.openai_model is empty; set it to a model the server serves")
        started = time.perf_counter()
        import httpx

        headers = {}
        key = os.environ.get(self.settings.summarizer.openai_api_key_env or "", "").strip()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            base_url=base.rstrip("/"),
            headers=headers,
            timeout=float(self.settings.summarizer.timeout_s),
        )
        self.load_seconds = time.perf_counter() - started

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def complete(self, prompt: prompts.Prompt, max_tokens: int) -> Reply:
        self.load()
        response = self._post(prompt, max_tokens)
        if _rejects_format(response) and self.format_mode == JSON_SCHEMA:
            self.format_mode = JSON_OBJECT
            response = self._post(prompt, max_tokens)
        if response.status_code >= 400:
            raise SummarizerError(
                f"{self.settings.summarizer.openai_base_url} answered HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        return self._reply(response)

    def _post(self, prompt: prompts.Prompt, max_tokens: int):
        import httpx

        body = {
            "model": self.model,
            "messages": prompt.chat(),
            "max_tokens": max_tokens,
            "temperature": float(self.settings.summarizer.temperature),
            "response_format": response_format(self.format_mode, prompt),
        }
        try:
            return self._client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise SummarizerError(
                f"{self.settings.summarizer.openai_base_url} did not answer within "
                f"{self.settings.summarizer.timeout_s:g} s (summarizer.timeout_s)"
            ) from exc
        except httpx.HTTPError as exc:
            raise SummarizerError(f"cannot reach {self.settings.summarizer.openai_base_url}: {exc}") from exc

    @staticmethod
    def _reply(response) -> Reply:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise SummarizerError(f"not a chat-completions answer: {response.text[:200]!r}") from exc
        usage = data.get("usage") or {}
        return Reply(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or ""),
        )
