"""The answer cache: a repeated call is answered from SQLite (also after a restart), only
when the answer is deterministic, and never when switched off or cleared."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_desktop import paths
from rlm_desktop.llm.backend import Backend, CancelToken, GenerationParams, Message
from rlm_desktop.llm.cache import CachedBackend, SubcallCache
from tests.fakes import ScriptedBackend

ASK = [Message("user", "What year is in notes.txt?")]


def _backend(*answers: str) -> ScriptedBackend:
    backend = ScriptedBackend(name="sub")
    backend.enqueue(list(answers))
    return backend


def test_repeated_call_comes_from_the_cache_also_after_a_restart() -> None:
    inner = _backend("1987")
    first = CachedBackend(inner, SubcallCache())
    assert isinstance(first, Backend)
    assert first.chat(ASK).text == "1987"
    streamed: list[str] = []
    again = CachedBackend(inner, SubcallCache(paths.cache_db())).chat(ASK, on_token=streamed.append)
    assert again.cached and again.text == "1987" and streamed == ["1987"]
    assert len(inner.calls) == 1
    assert SubcallCache().stats().hits == 1


def test_different_prompt_or_params_is_a_miss() -> None:
    inner = _backend("a", "b", "c")
    cached = CachedBackend(inner, SubcallCache())
    cached.chat(ASK)
    assert cached.chat([Message("user", "Other question")]).text == "b"
    assert cached.chat(ASK, GenerationParams(max_tokens=5)).text == "c"
    assert len(inner.calls) == 3


def test_sampled_and_cancelled_answers_are_not_cached() -> None:
    inner = _backend("warm", "warmer", "x", "y")
    cached = CachedBackend(inner, SubcallCache())
    hot = GenerationParams(temperature=0.8)
    cached.chat(ASK, hot)
    assert cached.chat(ASK, hot).text == "warmer"
    cancel = CancelToken()
    cancel.cancel()
    assert cached.chat(ASK, cancel=cancel).finish_reason == "cancelled"
    assert cached.chat(ASK).text == "y"


def test_disabled_or_cleared_cache_asks_the_model() -> None:
    inner = _backend("one", "two", "three")
    cached = CachedBackend(inner, SubcallCache())
    cached.chat(ASK)
    cached.enabled = False
    assert cached.chat(ASK).text == "two"
    cached.enabled = True
    assert cached.clear() == 1
    assert cached.chat(ASK).text == "three"
    assert SubcallCache().stats().entries == 1


def test_stop_fn_is_applied_to_a_cached_answer() -> None:
    inner = _backend("alpha beta")
    cached = CachedBackend(inner, SubcallCache())

    def cut_at(word: str):
        def cut(text: str) -> int | None:
            return text.find(word) if word in text else None

        return cut

    cached.chat(ASK, stop_fn=cut_at("zzz"))
    again = cached.chat(ASK, stop_fn=cut_at("beta"))  # same function, other state
    assert again.cached and again.text == "alpha " and again.finish_reason == "stop"


def test_batch_mixes_cached_and_new_answers_in_order() -> None:
    inner = _backend("A", "B", "C")
    cached = CachedBackend(inner, SubcallCache())
    convs = [[Message("user", q)] for q in ("qa", "qb", "qc")]
    cached.chat(convs[1])  # "A" for qb
    results = cached.chat_batch(convs)
    assert [r.text for r in results] == ["B", "A", "C"]
    assert [r.cached for r in results] == [False, True, False]


def test_cache_lives_in_the_data_dir(isolated_data: Path) -> None:
    SubcallCache()
    assert (isolated_data / "cache.db").is_file()


@pytest.mark.model
def test_real_model_answer_is_cached(small_model_path: Path) -> None:
    from rlm_desktop.llm.loader import load_backend
    from rlm_desktop.settings import Settings

    backend = load_backend(small_model_path, Settings(n_ctx=1024))
    try:
        cached = CachedBackend(backend, SubcallCache())
        first = cached.chat(ASK, GenerationParams(max_tokens=6))
        second = cached.chat(ASK, GenerationParams(max_tokens=6))
        assert second.cached and second.text == first.text
        assert second.elapsed_s < first.elapsed_s / 5
    finally:
        backend.close()


@pytest.mark.model
def test_system_prompt_state_survives_a_restart(small_model_path: Path, isolated_data: Path) -> None:
    from rlm_desktop.llm.loader import load_backend
    from rlm_desktop.settings import Settings

    system = Message("system", "You answer questions about a folder of files. " + "Cite the file and line. " * 20)
    settings = Settings(n_ctx=1024)
    first = load_backend(small_model_path, settings, role="root")
    try:
        cold = first.chat([system, Message("user", "Hi?")], GenerationParams(max_tokens=2))
    finally:
        first.close()
    assert len(list((isolated_data / "kv").glob("*.kvstate"))) == 1
    second = load_backend(small_model_path, settings, role="root")
    try:
        warm = second.chat([system, Message("user", "Where is main?")], GenerationParams(max_tokens=2))
    finally:
        second.close()
    assert cold.evaluated_prompt_tokens == cold.prompt_tokens > 100
    # only the question and the chat markup around it: "<|im_end|>\n<|im_start|>user\n..."
    assert warm.evaluated_prompt_tokens <= 20


@pytest.mark.model
def test_worked_examples_after_the_system_prompt_are_saved_with_it(small_model_path: Path, isolated_data: Path) -> None:
    from rlm_desktop.llm.loader import load_backend
    from rlm_desktop.settings import Settings

    system = Message("system", "You answer questions about a folder of files. " + "Cite the file and line. " * 10)
    examples = [Message("user", "Question: where is the key? " * 8), Message("assistant", "```python\nsearch('key')\n```"),
                Message("user", "Output: notes/a.txt:3: the key is in the shed. " * 4), Message("assistant", "FINAL('the shed (notes/a.txt:3)')")]
    head = [system, *examples]
    params = GenerationParams(max_tokens=2, stable_messages=len(head))
    settings = Settings(n_ctx=1024)
    first = load_backend(small_model_path, settings, role="root")
    try:
        cold = first.chat([*head, Message("user", "Question: where is main?")], params)
    finally:
        first.close()
    second = load_backend(small_model_path, settings, role="root")
    try:
        warm = second.chat([*head, Message("user", "Question: who wrote the report?")], params)
    finally:
        second.close()
    assert cold.evaluated_prompt_tokens == cold.prompt_tokens > 200
    # after a restart only the new question is evaluated, not the examples
    assert warm.evaluated_prompt_tokens <= 25
