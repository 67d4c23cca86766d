"""The fake Messages API server, driven by the real ``anthropic`` SDK."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.support.fake_anthropic import DEFAULT_DONE_TEXT, DEFAULT_SIDE_TEXT, FakeAnthropic, ToolCall

TOOLS = [{"name": "Bash", "description": "run a command", "input_schema": {"type": "object"}}]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0, timeout=10)


def ask(client: anthropic.Anthropic, text: str = "hi", **kwargs):
    messages = kwargs.pop("messages", [{"role": "user", "content": text}])
    return client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages, **kwargs)


def test_side_request_gets_pushed_text_then_default(fake, client):
    fake.push_text('{"type": "bugfix", "title": "VAT per country"}')
    first = ask(client, "summarize")
    second = ask(client, "title please")
    assert first.content[0].text == '{"type": "bugfix", "title": "VAT per country"}'
    assert first.stop_reason == "end_turn" and first.model == "claude-haiku-4-5"
    assert first.usage.input_tokens > 0
    assert second.content[0].text == DEFAULT_SIDE_TEXT
    bodies = [r.body for r in fake.messages_requests()]
    assert [b["messages"][0]["content"] for b in bodies] == ["summarize", "title please"]


def test_pushed_error_reaches_the_sdk_as_its_status_error(fake, client):
    fake.push_error(529, "busy")
    with pytest.raises(anthropic.APIStatusError) as info:
        ask(client)
    assert info.value.status_code == 529
    assert "busy" in str(info.value)
    assert ask(client).content[0].text == DEFAULT_SIDE_TEXT


def test_error_without_retry_header_stops_sdk_retries(fake):
    retrying = anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=2, timeout=10)
    fake.push_error(500, "no retry please", should_retry=False)
    with pytest.raises(anthropic.InternalServerError):
        ask(retrying)
    assert len(fake.messages_requests()) == 1


def test_fail_all_until_cleared(fake, client):
    fake.fail_all(503)
    for _ in range(2):
        with pytest.raises(anthropic.APIStatusError) as info:
            ask(client)
        assert info.value.status_code == 503
    fake.fail_all(None)
    assert ask(client).content[0].text == DEFAULT_SIDE_TEXT


def test_script_turn_follows_assistant_count_so_retries_repeat(fake, client):
    fake.set_script([[ToolCall("Bash", {"command": "ls"})], "all done"])
    first = ask(client, "go", tools=TOOLS)
    again = ask(client, "go", tools=TOOLS)
    assert first.stop_reason == again.stop_reason == "tool_use"
    assert first.content[0].input == {"command": "ls"} and first.content[0].name == "Bash"
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [c.model_dump() for c in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[0].id, "content": "x"}]},
    ]
    final = ask(client, messages=history, tools=TOOLS)
    assert final.stop_reason == "end_turn" and final.content[0].text == "all done"
    past_end = history + [{"role": "assistant", "content": "all done"}, {"role": "user", "content": "more"}]
    assert ask(client, messages=past_end, tools=TOOLS).content[0].text == DEFAULT_DONE_TEXT


def test_streaming_tool_calls_and_text_round_trip(fake, client):
    fake.set_script([[ToolCall("Read", {"file_path": "/x/cart/vat.py"}), ToolCall("Bash", {"command": "echo ü"})]])
    with client.messages.stream(model="m", max_tokens=50, messages=[{"role": "user", "content": "go"}], tools=TOOLS) as s:
        message = s.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in message.content] == [
        ("Read", {"file_path": "/x/cart/vat.py"}),
        ("Bash", {"command": "echo ü"}),
    ]
    fake.push_text("streamed words here")
    with client.messages.stream(model="m", max_tokens=50, messages=[{"role": "user", "content": "t"}]) as s:
        assert "".join(s.text_stream) == "streamed words here"
        assert s.get_final_message().usage.output_tokens > 0


def test_runs_tag_requests_and_other_endpoints(fake, client):
    run = fake.set_script(["hello"])
    ask(client, tools=TOOLS)
    assert [r.run for r in fake.agent_requests()] == [run]
    assert client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hi"}]).input_tokens > 0
    assert client.models.list().data[0].id
    with pytest.raises(anthropic.NotFoundError):
        client.post("/v1/nothing-here", cast_to=object, body={})
    assert fake.unknown_paths == ["POST /v1/nothing-here"]


def test_set_script_rejects_malformed_turns(fake):
    with pytest.raises(TypeError, match="ToolCall"):
        fake.set_script([[{"name": "Bash"}]])
    with pytest.raises(TypeError):
        fake.set_script([[]])
