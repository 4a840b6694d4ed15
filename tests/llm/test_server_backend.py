"""Models served on the user's network, tested against a real server: llama-cpp-python's
own OpenAI-compatible server (its ``[server]`` extra, installed by ``make test``) on
127.0.0.1 with the 0.5B test model. A chat, a streamed chat, a cancelled request, eight
concurrent sub-calls in order, a JSON-schema reply, the server killed in mid-run, and an
end-to-end ``rlm-desktop ask`` with the served sub model. Where a host would receive the
question is checked without any server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rlm_desktop.errors import ModelError
from rlm_desktop.llm.backend import CancelToken, GenerationParams, Message, chat_batch
from rlm_desktop.llm.loader import BackendPool, served_config
from rlm_desktop.llm.server_backend import ServerBackend, ServerConfig, host_scope
from rlm_desktop.settings import Settings

ALIAS = "test-0.5b"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--verbose", "false",
         # its default cuts off a streaming request when the next one arrives: no parallel sub-calls
         "--interrupt_requests", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the server did not start within 180 s")


@pytest.fixture(scope="module")
def server(small_model_path: Path) -> Iterator[str]:
    port = _free_port()
    proc = start_server(small_model_path, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def backend(server: str) -> Iterator[ServerBackend]:
    b = ServerBackend(ServerConfig(url=server, model=ALIAS, n_ctx=4096, concurrency=8))
    yield b
    b.close()


COUNT = [Message("user", "Count from 1 to 10, separated by commas. Only the numbers.")]


@pytest.mark.model
def test_a_chat_with_the_served_model(backend: ServerBackend) -> None:
    assert ALIAS in backend.check()
    done = backend.chat(COUNT, GenerationParams(max_tokens=40))
    assert "1, 2, 3" in done.text and done.finish_reason in ("stop", "length")
    assert done.prompt_tokens > 10 and done.completion_tokens > 5  # the server's usage fields
    assert backend.count_tokens("hello world") in (2, 3)  # the server's own tokenizer
    assert "(served)" in backend.name and backend.sends_to.startswith("http://127.0.0.1:")


@pytest.mark.model
def test_streaming_delivers_tokens_as_they_come_and_stop_fn_ends_the_stream(backend: ServerBackend) -> None:
    pieces: list[str] = []
    done = backend.chat(COUNT, GenerationParams(max_tokens=60), on_token=pieces.append,
                        stop_fn=lambda text: text.find("5") + 1 if "5" in text else None)
    assert len(pieces) > 3  # many deltas, not one block
    assert done.text.endswith("5") and "6" not in done.text


@pytest.mark.model
def test_a_cancelled_request_stops_at_once(backend: ServerBackend) -> None:
    token = CancelToken()
    started = time.monotonic()
    threading.Timer(0.5, token.cancel).start()
    long = [Message("user", "Write a very long story about a lighthouse keeper, at least 2000 words.")]
    done = backend.chat(long, GenerationParams(max_tokens=2000), cancel=token)
    assert done.finish_reason == "cancelled"
    assert time.monotonic() - started < 10  # 2000 tokens would take minutes
    # the server is free again: the next request answers
    assert "1" in backend.chat(COUNT, GenerationParams(max_tokens=20)).text


@pytest.mark.model
def test_eight_concurrent_sub_calls_come_back_in_order(backend: ServerBackend) -> None:
    conversations = [[Message("user", f"Reply with the number {n} and nothing else.")] for n in range(11, 19)]
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()
    original = backend._stream

    def counting(*args, **kwargs):
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                in_flight["now"] -= 1

    backend._stream = counting  # type: ignore[method-assign]
    answers = chat_batch(backend, conversations, GenerationParams(max_tokens=8))
    assert [str(n) in a.text for n, a in zip(range(11, 19), answers, strict=True)] == [True] * 8
    assert in_flight["most"] > 1  # sent concurrently (the server may still queue them)


@pytest.mark.model
def test_a_json_schema_reply_is_constrained(backend: ServerBackend) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"]}
    done = backend.chat([Message("user", "Paris has 2100000 people. Give the city and its population.")],
                        GenerationParams(max_tokens=60, json_schema=schema))
    record = json.loads(done.text)
    assert set(record) == {"city", "population"} and isinstance(record["population"], int)


@pytest.mark.model
def test_a_wrong_model_name_is_a_clear_error(server: str) -> None:
    b = ServerBackend(ServerConfig(url=server, model="no-such-model"))
    try:
        with pytest.raises(ModelError, match=f"has no model 'no-such-model'; it serves: {ALIAS}"):
            b.check()
    finally:
        b.close()


def test_a_server_that_is_not_there_is_a_clear_error_after_retries() -> None:
    b = ServerBackend(ServerConfig(url=f"http://127.0.0.1:{_free_port()}", model="x", connect_timeout_s=1))
    started = time.monotonic()
    try:
        with pytest.raises(ModelError, match=r"cannot reach the model server at 127\.0\.0\.1:\d+.*tried 4 times"):
            b.chat(COUNT, GenerationParams(max_tokens=5))
    finally:
        b.close()
    assert time.monotonic() - started < 20


def test_where_a_server_is_and_whether_it_may_be_used() -> None:
    assert host_scope("http://127.0.0.1:8080") == "loopback"
    assert host_scope("http://localhost:11434/v1") == "loopback"
    assert host_scope("http://192.168.1.20:8000") == "private"
    assert host_scope("http://10.0.0.5") == "private"
    assert host_scope("http://[fd00::1]:8080") == "private"
    assert host_scope("http://8.8.8.8:8080") == "public"
    assert host_scope("http://no-such-host.invalid") == "public"  # unresolvable: not assumed private
    public = Settings(sub_server="http://8.8.8.8:8080", sub_server_model="m")
    with pytest.raises(ModelError, match="would go over the internet.*--allow-public-server"):
        served_config(public, "sub")
    assert served_config(public.replace(server_allow_public=True), "sub").url == "http://8.8.8.8:8080"
    assert served_config(Settings(), "sub") is None  # off by default
    with pytest.raises(ModelError, match="no model name"):
        served_config(Settings(root_server="http://127.0.0.1:1"), "root")


def test_the_api_key_is_read_from_the_environment_and_never_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLM_DESKTOP_SERVER_KEY", "sk-secret-123")
    b = ServerBackend(ServerConfig(url="http://127.0.0.1:1", model="m"))
    try:
        assert b._headers() == {"Authorization": "Bearer sk-secret-123"}
        assert "sk-secret" not in json.dumps(Settings().to_dict()) and "sk-secret" not in b.name
    finally:
        b.close()


@pytest.mark.model
def test_a_pool_serves_the_sub_model_and_the_engine_says_where_text_goes(server: str, tmp_path: Path) -> None:
    from rlm_desktop.rlm.engine import Engine
    from tests.fakes import ScriptedBackend

    settings = Settings(sub_server=server, sub_server_model=ALIAS, subcall_cache=False, max_iterations=4)
    with BackendPool(settings) as pool:
        sub = pool.sub()
        assert "(served)" in sub.name
        root = ScriptedBackend()
        root.enqueue(["```python\nprint(llm_query('Reply with the word blue and nothing else.'))\n```", "FINAL('blue')"])
        events: list = []
        engine = Engine(root, sub, None, settings, sink=events.append)
        finished = engine.run("Which colour is the sky?", context_text="The sky is blue.")
    notices = [e.text for e in events if type(e).__name__ == "Notice"]
    assert any(n.startswith("served: the question and the text the sub-call model reads go to http://127.0.0.1") for n in notices)
    answers = [e.answer for e in events if type(e).__name__ == "NodeFinished" and e.answer]
    assert any("blue" in a.lower() for a in answers), answers
    assert finished.status in ("ok", "budget_exhausted")


@pytest.mark.model
def test_a_server_killed_in_mid_run_ends_the_run_with_a_clear_error_and_the_run_is_kept(small_model_path: Path, tmp_path: Path) -> None:
    """The root model is served; the server dies after the first turn: the next turn
    fails after its retries, the run ends as an error that names the server, and the
    runs DB keeps the run with what it had done."""
    port = _free_port()
    proc = start_server(small_model_path, port)
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(6):
        (folder / f"note{i}.txt").write_text(f"Note {i}\nThe colour of box {i} is blue.\n")
    question = "What colour is box 3?"
    cmd = [sys.executable, "-m", "rlm_desktop", "ask", question, "--folder", str(folder),
           "--root-server", f"http://127.0.0.1:{port}", "--root-model", ALIAS, "--max-iterations", "6"]
    ask = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        assert ask.stderr is not None
        for line in ask.stderr:
            seen.append(line)
            if "turn 1:" in line:
                break
        proc.kill()
        proc.wait(timeout=10)
        out, err = ask.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if ask.poll() is None:
            ask.kill()
    text = "".join(seen) + err
    assert any("turn 1:" in line for line in seen), text
    assert "cannot reach the model server at 127.0.0.1" in text, text
    assert ask.returncode == 1
    runs = subprocess.run([sys.executable, "-m", "rlm_desktop", "runs", "list"], capture_output=True, text=True, check=False)
    assert question in runs.stdout, runs.stdout + runs.stderr  # the run is in the runs DB, not lost


def test_the_ask_flags_set_the_servers() -> None:
    from rlm_desktop.cli import build_parser
    from rlm_desktop.cli.ask import settings_from

    args = build_parser().parse_args(["ask", "q?", "--folder", ".", "--root-server", "http://10.0.0.5:8080",
                                      "--root-model", "qwen-7b", "--sub-server", "http://127.0.0.1:8000",
                                      "--sub-model", "qwen-0.5b", "--server-concurrency", "8"])
    s = settings_from(args)
    assert (s.root_server, s.root_server_model, s.sub_server, s.sub_server_model, s.server_concurrency) == (
        "http://10.0.0.5:8080", "qwen-7b", "http://127.0.0.1:8000", "qwen-0.5b", 8)
    assert s.server_allow_public is False
    assert settings_from(build_parser().parse_args(["ask", "q?", "--folder", "."])).root_server == ""


@pytest.mark.model
def test_models_list_shows_what_a_server_serves(server: str) -> None:
    listed = subprocess.run([sys.executable, "-m", "rlm_desktop", "models", "list", "--server", server],
                            capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert f"Served at {server.removeprefix('http://')} (this machine; questions and the text the model reads go there): {ALIAS}" in listed.stdout
    assert "Device:" in listed.stdout


@pytest.mark.model
def test_rlm_desktop_ask_end_to_end_with_the_served_sub_model(server: str, small_model_path: Path, tmp_path: Path) -> None:
    """The whole command: the pool serves the sub model from the server, the run says so in
    its trace, and the runs DB names the served model."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Inventory\nShelf A holds 14 boxes of screws.\n")
    (folder / "b.txt").write_text("Staff\nThe manager is Rosa Lind.\n")
    asked = subprocess.run(
        [sys.executable, "-m", "rlm_desktop", "ask", "Who is the manager?", "--folder", str(folder),
         "--model", str(small_model_path), "--sub-server", server, "--sub-model", ALIAS,
         "--max-iterations", "4", "--json"],
        capture_output=True, text=True, timeout=600, check=False)
    result = json.loads(asked.stdout)
    assert result["status"] in ("ok", "budget_exhausted"), asked.stderr[-2000:]
    assert "served: the question and the text the sub-call model reads go to http://127.0.0.1" in asked.stderr
    exported = subprocess.run([sys.executable, "-m", "rlm_desktop", "runs", "export", result["run_id"], "--format", "json"],
                              capture_output=True, text=True, check=False).stdout
    run = json.loads(exported)
    assert run["sub_model"].startswith(f"{ALIAS} @ 127.0.0.1") and run["sub_model"].endswith("(served)"), run["sub_model"]
    notices = json.dumps(run)
    assert "served: the question and the text the sub-call model reads go to" in notices
