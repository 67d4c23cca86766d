"""The ``claude`` backend: Anthropic's Messages API through the ``anthropic`` SDK.

Used only when configured (``summarizer.backend = "claude"``): it sends the
batch's compact log, never the raw payloads, to ``summarizer.claude_model``.
The key is read from the environment variable that
``summarizer.claude_api_key_env`` names; ``summarizer.claude_base_url`` points
the SDK at another endpoint (a proxy, or a local server in tests).

The answer is forced through a tool whose ``input_schema`` is the prompt's JSON
schema, so Claude returns a parsed object rather than prose. No sampling
parameters are sent: the SDK (2.x) no longer takes ``temperature``.
"""

from __future__ import annotations

import os
import time

from offmem.errors import SummarizerError
from offmem.summarize import prompts
from offmem.summarize.base import Reply, Summarizer

SDK_RETRIES = 1


class ClaudeSummarizer(Summarizer):
    name = "claude"
    one_shot = False  # a hosted model follows the schema without an example

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._client = None

    @property
    def model(self) -> str:
        return self.settings.summarizer.claude_model

    @property
    def loaded(self) -> bool:
        return self._client is not None

    def _api_key(self) -> str:
        env = self.settings.summarizer.claude_api_key_env or "ANTHROPIC_API_KEY"
        key = os.environ.get(env, "").strip()
        if not key:
            raise SummarizerError(
                f"the claude summarizer needs an API key in ${env}: export {env}=... "
                "(or name another variable in summarizer.claude_api_key_env, "
                "or set summarizer.backend = \"llamacpp\" to stay local)"
            )
        return key

    def load(self) -> None:
        """Check the configuration and build the SDK client; no request is sent."""
        if self._client is not None:
            return
        if not self.model:
            raise SummarizerError("summarizer.claude_model is empty; set it, e.g. claude_model = \"claude-haiku-4-5\"")
        started = time.perf_counter()
        key = self._api_key()
        try:
            import anthropic
        except ImportError as exc:
            raise SummarizerError("the claude summarizer needs the anthropic SDK: pip install 'offmem[claude]'") from exc
        self._client = anthropic.Anthropic(
            api_key=key,
            base_url=self.settings.summarizer.claude_base_url or None,
            timeout=float(self.settings.summarizer.timeout_s),
            max_retries=SDK_RETRIES,
        )
        self.load_seconds = time.perf_counter() - started

    def complete(self, prompt: prompts.Prompt, max_tokens: int) -> Reply:
        self.load()
        message = self._create(prompt, max_tokens)
        usage = getattr(message, "usage", None)
        reply = Reply(
            prompt_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            finish_reason="length" if message.stop_reason == "max_tokens" else str(message.stop_reason or ""),
        )
        for block in message.content:
            if block.type == "tool_use" and block.name == prompt.schema_name:
                if not isinstance(block.input, dict):
                    raise SummarizerError(f"Claude's {prompt.schema_name} input is not an object: {block.input!r}")
                reply.data = block.input
                return reply
        reply.text = "".join(getattr(b, "text", "") for b in message.content if b.type == "text")
        return reply

    def _create(self, prompt: prompts.Prompt, max_tokens: int):
        import anthropic

        tool = {
            "name": prompt.schema_name,
            "description": "Store the record described in the system prompt.",
            "input_schema": prompt.schema,
        }
        try:
            return self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                system=prompt.system,
                messages=prompt.messages,
                tools=[tool],
                tool_choice={"type": "tool", "name": prompt.schema_name},
            )
        except anthropic.APITimeoutError as exc:
            raise SummarizerError(
                f"the Claude API did not answer within {self.settings.summarizer.timeout_s:g} s (summarizer.timeout_s)"
            ) from exc
        except anthropic.APIConnectionError as exc:
            where = self.settings.summarizer.claude_base_url or "the Anthropic API"
            raise SummarizerError(f"cannot reach {where}: {exc}") from exc
        except anthropic.AuthenticationError as exc:
            raise SummarizerError(
                f"the Claude API rejected the key in ${self.settings.summarizer.claude_api_key_env}: {exc.message}"
            ) from exc
        except anthropic.APIStatusError as exc:
            raise SummarizerError(f"the Claude API answered HTTP {exc.status_code}: {exc.message}") from exc
