"""Constrained output: a reply forced to a JSON schema or a GBNF grammar. Without a model:
the schema-to-grammar step, ``complete_json``'s errors, per-conversation batch params and
the cache key. With the real 0.5B model: replies that parse and keep to an enum even when
the prompt invites rambling, a batch mixing constrained and free requests, a grammar that
does not compile, and ``max_tokens`` still bounding a constrained reply."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rlm_desktop.errors import ModelError
from rlm_desktop.llm.backend import (
    GenerationParams,
    Message,
    chat_batch,
    complete_json,
    params_per_conversation,
)
from rlm_desktop.llm.cache import SubcallCache
from rlm_desktop.llm.llama_backend import grammar_of
from tests.fakes import ScriptedBackend

SENTIMENTS = ("positive", "negative", "neutral")
VERDICT = {
    "type": "object",
    "properties": {
        "sentiment": {"enum": list(SENTIMENTS)},
        # bounded, so even a rambling model completes the object within a small max_tokens
        "reason": {"type": "string", "maxLength": 24},
    },
    "required": ["sentiment", "reason"],
}
ASK = [Message("user", "Review: 'Best coffee ever!' What is its sentiment?")]


def test_a_schema_becomes_a_grammar_with_its_keys_in_order() -> None:
    grammar = grammar_of(GenerationParams(json_schema=VERDICT))
    assert grammar is not None and "root ::=" in grammar
    (root,) = [line for line in grammar.splitlines() if line.startswith("root ::=")]
    assert root.index("sentiment-kv") < root.index("reason-kv")
    assert grammar_of(GenerationParams(grammar='root ::= "yes"')) == 'root ::= "yes"'
    assert grammar_of(GenerationParams()) is None
    hash(GenerationParams(json_schema=VERDICT))  # still usable as a key


def test_schema_and_grammar_errors_are_model_errors() -> None:
    with pytest.raises(ModelError, match="not both"):
        grammar_of(GenerationParams(json_schema=VERDICT, grammar='root ::= "x"'))
    with pytest.raises(ModelError, match="cannot turn the JSON schema into a grammar"):
        grammar_of(GenerationParams(json_schema={"type": "no-such-type"}))
    with pytest.raises(ModelError, match="not JSON data"):
        grammar_of(GenerationParams(json_schema={"default": object()}))


def test_complete_json_parses_the_reply_and_passes_the_schema() -> None:
    backend = ScriptedBackend()
    backend.enqueue(['{"sentiment": "positive", "reason": "best coffee"}'])
    assert complete_json(backend, ASK, VERDICT) == {"sentiment": "positive", "reason": "best coffee"}
    assert backend.params[-1].json_schema == VERDICT


def test_complete_json_says_when_max_tokens_cut_the_reply() -> None:
    backend = ScriptedBackend()
    backend.enqueue(['{"sentiment": "positive", "reason": "the best coffee ever"}'])
    with pytest.raises(ModelError, match="cut at max_tokens=3"):
        complete_json(backend, ASK, VERDICT, GenerationParams(max_tokens=3))


def test_complete_json_refuses_json_that_is_not_an_object() -> None:
    backend = ScriptedBackend()
    backend.enqueue(['["positive"]'])
    with pytest.raises(ModelError, match="not an object"):
        complete_json(backend, ASK, {"type": "array"})


def test_the_fake_refuses_a_scripted_reply_a_constrained_model_could_not_give() -> None:
    backend = ScriptedBackend()
    backend.enqueue(["Sure! The sentiment is positive."])
    with pytest.raises(AssertionError, match="not JSON"):
        backend.chat(ASK, GenerationParams(json_schema=VERDICT))


def test_a_batch_takes_one_params_per_conversation() -> None:
    backend = ScriptedBackend()
    backend.enqueue(["free words here", '{"sentiment": "neutral", "reason": "meh"}'])
    free, constrained = GenerationParams(max_tokens=2), GenerationParams(json_schema=VERDICT)
    results = chat_batch(backend, [ASK, ASK], [free, constrained])
    assert [r.text for r in results] == ["free words", '{"sentiment": "neutral", "reason": "meh"}']
    assert backend.params == [free, constrained]
    with pytest.raises(ValueError, match="2 GenerationParams for 3 conversations"):
        params_per_conversation([free, constrained], 3)


def test_the_cache_keys_a_constrained_call_apart_and_keeps_old_keys() -> None:
    plain = SubcallCache.key("m", "prompt", GenerationParams())
    assert SubcallCache.key("m", "prompt", GenerationParams(json_schema=VERDICT)) != plain
    assert SubcallCache.key("m", "prompt", GenerationParams(grammar='root ::= "a"')) != plain
    # an unconstrained call keeps the key it had before constrained output existed
    before = {"model": "m", "prompt": "prompt", "max_tokens": 512, "temperature": 0.0, "stop": [], "stop_fn": None}
    assert plain == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()


@pytest.fixture(scope="module")
def sub(small_model_path: Path):
    from rlm_desktop.llm.loader import load_backend
    from rlm_desktop.settings import Settings

    backend = load_backend(small_model_path, Settings(n_ctx=512, subcall_cache=False), role="sub")
    yield backend
    backend.close()


@pytest.mark.model
@pytest.mark.parametrize(
    "prompt",
    [
        "Review: 'The battery died after two days.' What is its sentiment?",
        "Review: 'It arrived on Tuesday.' What is its sentiment?",
        # left free, the model writes an essay: the grammar must still close the object
        "Write a long essay on the history of Rome, with many details.",
    ],
)
def test_a_real_reply_parses_and_keeps_to_the_enum(sub, prompt: str) -> None:
    completion = sub.chat([Message("user", prompt)], GenerationParams(max_tokens=64, json_schema=VERDICT))
    assert completion.finish_reason == "stop" and completion.completion_tokens < 64
    verdict = json.loads(completion.text)
    assert verdict["sentiment"] in SENTIMENTS
    assert isinstance(verdict["reason"], str) and len(verdict["reason"]) <= 24


@pytest.mark.model
def test_complete_json_on_the_real_model(sub) -> None:
    verdict = complete_json(sub, ASK, VERDICT, GenerationParams(max_tokens=64))
    assert verdict["sentiment"] == "positive"


@pytest.mark.model
def test_a_raw_grammar_ends_the_reply_when_it_is_complete(sub) -> None:
    completion = sub.chat(
        [Message("user", "Is water wet? Explain at length.")],
        GenerationParams(max_tokens=16, grammar='root ::= "yes" | "no"'),
    )
    assert completion.text in ("yes", "no") and completion.finish_reason == "stop"


@pytest.mark.model
def test_a_batch_mixes_a_constrained_request_with_free_ones(sub) -> None:
    conversations = [
        [Message("user", "Say hello in French.")],
        ASK,
        [Message("user", "Name one colour of the rainbow.")],
    ]
    free = GenerationParams(max_tokens=12)
    results = sub.chat_batch(conversations, [free, GenerationParams(max_tokens=64, json_schema=VERDICT), free])
    assert json.loads(results[1].text)["sentiment"] in SENTIMENTS
    for result in (results[0], results[2]):
        assert result.text.strip() and not result.text.lstrip().startswith("{")


@pytest.mark.model
def test_a_grammar_that_does_not_compile_is_a_model_error_before_any_work(sub) -> None:
    bad = GenerationParams(max_tokens=8, grammar='root ::= answer\nanswr ::= "yes"')
    with pytest.raises(ModelError, match="grammar does not compile.*answer"):
        sub.chat(ASK, bad)
    with pytest.raises(ModelError, match="grammar does not compile"):
        sub.chat_batch([ASK, ASK], [GenerationParams(max_tokens=8), bad])
    assert sub.chat(ASK, GenerationParams(max_tokens=2)).completion_tokens == 2


@pytest.mark.model
def test_max_tokens_still_bounds_a_constrained_reply(sub) -> None:
    story = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    messages = [Message("user", "Write a long story about a dragon.")]
    completion = sub.chat(messages, GenerationParams(max_tokens=8, json_schema=story))
    assert completion.finish_reason == "length" and completion.completion_tokens == 8
    assert completion.text.startswith("{")
    with pytest.raises(ModelError, match="cut at max_tokens=8"):
        complete_json(sub, messages, story, GenerationParams(max_tokens=8))
