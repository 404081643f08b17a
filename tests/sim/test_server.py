"""Server behaviour: counters, control endpoints, concurrency, lifecycle and the CLI."""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from costaware.sim import Fault, Simulator

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLAUDE_BODY = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


def control(sim: Simulator, method: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(sim.url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_port_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = Simulator().url


def test_urls(sim: Simulator) -> None:
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    assert sim.anthropic_base_url == sim.url
    assert sim.openai_base_url == sim.url + "/v1"


def test_counters_count_every_request_by_path_and_model(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.add_fault(Fault(status=500, times=1))
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(**CLAUDE_BODY)
    claude.messages.create(**CLAUDE_BODY)
    claude.messages.create(**{**CLAUDE_BODY, "model": "claude-sonnet-4-5"})
    claude.messages.count_tokens(model="claude-sonnet-4-5", messages=CLAUDE_BODY["messages"])
    assert sim.requests() == 4
    assert sim.requests(path="/v1/messages") == 3
    assert sim.requests(model="claude-haiku-4-5") == 2
    assert sim.requests(path="/v1/messages/count_tokens", model="claude-sonnet-4-5") == 1


def test_reset_forgets_counters_faults_and_caches(sim: Simulator, claude: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "x" * 8000, "cache_control": {"type": "ephemeral"}}]
    body = {**CLAUDE_BODY, "model": "claude-sonnet-4-5", "system": system}
    assert claude.messages.create(**body).usage.cache_creation_input_tokens == 2002
    sim.add_fault(Fault(status=500))
    sim.reset()
    assert sim.requests() == 0
    usage = claude.messages.create(**body).usage  # no fault fires any more
    assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == 2002


def test_control_endpoints(sim: Simulator, claude: anthropic.Anthropic) -> None:
    assert control(sim, "POST", "/_sim/faults", {"status": 429, "times": 1, "path": "/v1/messages"})["ok"]
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(**CLAUDE_BODY)
    claude.messages.create(**CLAUDE_BODY)
    stats = control(sim, "GET", "/_sim/stats")
    assert stats["total"] == 2
    assert stats["requests"] == {"/v1/messages": {"claude-haiku-4-5": 2}}
    assert stats["faults"][0]["fired"] == 1 and stats["faults"][0]["fault"]["status"] == 429
    control(sim, "POST", "/_sim/faults", [{"status": 500}, {"drop": "true"}])
    control(sim, "DELETE", "/_sim/faults")
    claude.messages.create(**CLAUDE_BODY)
    control(sim, "POST", "/_sim/reset", {})
    assert control(sim, "GET", "/_sim/stats")["total"] == 0


def test_bad_fault_spec_is_refused(sim: Simulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        control(sim, "POST", "/_sim/faults", {"status": "teapot"})
    assert caught.value.code == 400


def test_chunked_request_body_keeps_the_connection_usable(sim: Simulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    parts = [b'{"model": "m", "messages": ', b'[{"role": "user", "content": "Hi"}]}']
    for _ in range(2):
        connection.request("POST", "/v1/chat/completions", body=iter(parts), encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["model"] == "m"
    connection.close()


def test_unknown_path_is_a_404(sim: Simulator, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.models.list()


async def test_200_concurrent_async_requests(sim: Simulator) -> None:
    claude = anthropic.AsyncAnthropic(base_url=sim.anthropic_base_url, api_key="test", max_retries=0)
    oai = openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="test", max_retries=0)
    messages = [{"role": "user", "content": "Hi"}]

    async def one(i: int) -> str:
        if i % 2:
            message = await claude.messages.create(model="claude-haiku-4-5", max_tokens=30, messages=messages)
            return message.content[0].text
        completion = await oai.chat.completions.create(model="gpt-4.1-mini", messages=messages)
        return completion.choices[0].message.content or ""

    async with claude, oai:
        answers = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), timeout=20)
    assert all(answers) and sim.requests() == 200


def test_stop_is_idempotent_and_closes_keep_alive_connections(clock: Any) -> None:
    sim = Simulator(clock=clock).start()
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test", max_retries=0)
    client.messages.create(**CLAUDE_BODY)
    sim.stop()
    sim.stop()
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**CLAUDE_BODY)
    client.close()


def test_import_is_light() -> None:
    code = (
        "import sys, costaware.sim; print(sorted({'http.server', 'anthropic', 'openai'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": SRC}, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_module_cli_serves(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "costaware.sim", "--port", "0"],
        env={"PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        with urllib.request.urlopen(url + "/_sim/stats", timeout=5) as response:
            assert json.loads(response.read())["total"] == 0
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_module_cli_on_a_port_in_use_says_so_in_one_line() -> None:
    with Simulator() as busy:
        port = busy.port
        out = subprocess.run(
            [sys.executable, "-m", "costaware.sim", "--port", str(port)],
            env={"PYTHONPATH": SRC},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 1
    assert out.stderr.strip() == f"costaware sim: cannot listen on 127.0.0.1:{port}: Address already in use"
