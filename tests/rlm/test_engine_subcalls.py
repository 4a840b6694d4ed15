"""Sub-calls from the REPL: llm_query and llm_batch to the sub model, rlm_query as a child
RLM or a plain call at the depth limit, prompts cut with a marker, the sub-call budget."""

from __future__ import annotations

import re

from rlm_desktop.rlm import events as ev
from tests.fakes import ScriptedBackend
from tests.rlm.engine_fakes import FakeSession, code, last_user, make_engine


def test_llm_query_goes_to_sub_backend_as_child_node() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue(["ORCHID-7731"])
    root.enqueue([code("a = llm_query('Find the code in: ' + files[0].text)\nprint(a)"), code("FINAL(a)")])
    events: list = []
    finished = make_engine(root, sub, events=events).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert finished.stats.sub_calls == 1 and finished.stats.depth == 1
    started = [e for e in events if isinstance(e, ev.NodeStarted)]
    assert [s.kind for s in started] == ["root", "llm"]
    assert started[1].parent_id == started[0].node_id
    assert "vault code is ORCHID" in sub.calls[0][-1].content


def test_sub_call_without_corpus_text_is_no_evidence() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue(["123456"])
    root.enqueue([code("print(llm_query('What is the access code?'))"), code("FINAL('123456')"), code("search('code')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root, sub).run("What is the access code?")
    assert finished.answer == "ORCHID-7731"
    assert "in no output you have seen" in last_user(root.calls[2])


def test_long_sub_prompt_is_cut_with_visible_marker() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub", n_ctx=600)
    sub.enqueue(["fine"])
    root.enqueue([code("print(llm_query('word ' * 2000))"), code("FINAL('fine')")])
    make_engine(root, sub).run("Summarize")
    prompt = sub.calls[0][-1].content
    assert re.search(r"\[\.\.\. cut \d+ tokens to fit\]", prompt)
    assert sub.count_chat_tokens(sub.calls[0]) <= 600 - 256


def test_llm_batch_uses_chat_batch_when_available() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    seen: list = []

    def chat_batch(conversations, params, cancel=None):
        seen.append(len(conversations))
        return [sub.chat(c, params) for c in conversations]

    sub.chat_batch = chat_batch  # type: ignore[attr-defined]
    sub.enqueue(["one", "two", "three"])
    root.enqueue([code("r = llm_batch(['a: ' + f.text for f in files] + ['c'])\nprint(r)"), code("FINAL(r[0])")])
    events: list = []
    finished = make_engine(root, sub, events=events).run("Q?")
    assert seen == [3]
    assert finished.answer == "one" and finished.stats.sub_calls == 3
    assert sum(isinstance(e, ev.NodeFinished) for e in events) == 4


def test_rlm_query_at_max_depth_becomes_plain_call() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue(["blue"])
    root.enqueue([code("print(rlm_query('What colour?', 'The sky is blue.'))"), code("FINAL('blue')")])
    events: list = []
    finished = make_engine(root, sub, events=events, max_depth=1).run("What colour?")
    assert finished.answer == "blue"
    assert [e.kind for e in events if isinstance(e, ev.NodeStarted)] == ["root", "llm"]
    assert "The sky is blue." in sub.calls[0][-1].content


def test_rlm_query_below_max_depth_starts_a_child_rlm() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.enqueue([code("print(files)"), code("FINAL('blue')")])
    root.enqueue([code("c = rlm_query('What colour?', 'The sky is blue.')\nprint(c)"), code("FINAL(c)")])
    events: list = []
    finished = make_engine(root, sub, events=events, max_depth=2).run("What colour?")
    assert finished.answer == "blue"
    started = [e for e in events if isinstance(e, ev.NodeStarted)]
    assert [(s.kind, s.depth) for s in started] == [("root", 0), ("rlm", 1)]
    assert len(FakeSession.instances) == 2
    assert FakeSession.instances[1].config.context_text == "The sky is blue."
    assert all(s.closed for s in FakeSession.instances)


def test_a_batch_past_the_sub_call_budget_is_refused_before_spending_and_the_run_goes_on() -> None:
    # a whole-folder map over more files than the budget has calls left used to end the
    # run on the budget; now the cell is told to narrow or sample, and nothing is spent
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.default = "blue"
    root.enqueue([
        code("answers = llm_batch(['What colour? ' + f.text for f in files] * 4)"),
        code("answers = llm_batch(['What colour? ' + f.text for f in files])\nprint(answers)"),
        code("FINAL('blue')"),
    ])
    finished = make_engine(root, sub, max_sub_calls=5).run("What colour is mentioned in the files?")
    assert "8 sub-calls asked for at once, and only 5 are left" in last_user(root.calls[1])
    assert "take a sample of at most 5" in last_user(root.calls[1])
    assert finished.status == "ok" and finished.budget is None
    assert finished.stats.sub_calls == 2
