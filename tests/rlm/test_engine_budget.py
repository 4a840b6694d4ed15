"""Budgets and Stop: a run that runs out still returns the best answer it has, marked with
the budget that ran out; Stop kills the REPL at once and ends the run as cancelled."""

from __future__ import annotations

import threading
import time

from rlm_desktop.llm.backend import CancelToken
from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.sandbox.types import CellResult
from tests.fakes import ScriptedBackend
from tests.rlm.engine_fakes import FakeSession, code, last_user, make_engine


def test_iterations_exhausted_returns_last_answer_attempt() -> None:
    root = ScriptedBackend()
    # the guess is refused (no output seen yet), then the model keeps searching
    root.enqueue([code("FINAL('maybe 7')")] + [code(f"search('vault {i}')") for i in range(5)])
    finished = make_engine(root, max_iterations=4).run("What is the vault code?")
    assert finished.status == "budget_exhausted" and finished.budget == "iterations"
    assert finished.answer == "maybe 7"
    assert len(root.calls) == 4


def test_iterations_exhausted_without_attempt_forces_a_final_turn() -> None:
    root = ScriptedBackend()
    root.enqueue([code(f"search('vault {i}')") for i in range(3)] + ["FINAL('ORCHID-7731')"])
    events: list = []
    finished = make_engine(root, events=events, max_iterations=3).run("What is the vault code?")
    assert finished.status == "budget_exhausted" and finished.budget == "iterations"
    assert finished.answer == "ORCHID-7731"
    assert "Answer now" in root.calls[-1][-1].content
    assert finished.citations  # the evidence the searches touched


def test_sub_call_budget_stops_the_run() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.default = "x"
    root.enqueue([code("print(llm_batch(['a', 'b']))"), code("print(llm_batch(['c']))"), "FINAL(partial)"])
    finished = make_engine(root, sub, max_sub_calls=2).run("Q?")
    assert finished.status == "budget_exhausted" and finished.budget == "sub_calls"
    assert finished.answer == "partial"
    assert len(sub.calls) == 2  # the batch past the spent budget was refused whole, nothing half-done


def test_token_budget() -> None:
    root = ScriptedBackend()
    root.default = code("print('word ' * 50)  # again")
    root.enqueue([code("print('word ' * 50)")])
    finished = make_engine(root, max_total_tokens=800).run("Q?")
    assert finished.status == "budget_exhausted" and finished.budget == "tokens"
    assert finished.stats.prompt_tokens + finished.stats.completion_tokens >= 800


def test_wall_clock_budget() -> None:
    root = ScriptedBackend()
    root.delay_s = 0.05
    root.default = lambda messages: code(f"search('x{len(messages)}')")
    finished = make_engine(root, timeout_s=0.3).run("Q?")
    assert finished.status == "budget_exhausted" and finished.budget == "time"
    assert finished.stats.wall_s < 2


def test_stop_kills_the_running_cell_at_once() -> None:
    root = ScriptedBackend()
    root.enqueue([code("spin()")])
    token = CancelToken()
    engine = make_engine(root)
    engine.cancel = token
    original = FakeSession.run_cell

    def blocking(self, src):
        deadline = time.monotonic() + 10
        while not self.killed and time.monotonic() < deadline:
            time.sleep(0.01)
        return CellResult("", "killed", None, False, killed=True, kill_reason="stopped")

    FakeSession.run_cell = blocking
    timer = threading.Timer(0.2, token.cancel)
    timer.start()
    started = time.monotonic()
    try:
        finished = engine.run("Q?")
    finally:
        FakeSession.run_cell = original
        timer.cancel()
    assert finished.status == "cancelled"
    assert time.monotonic() - started < 2
    assert FakeSession.instances[0].killed and FakeSession.instances[0].closed


def test_stop_during_generation() -> None:
    token = CancelToken()

    def cancel_then_answer(messages):
        token.cancel()
        return code("search('x')")

    root = ScriptedBackend()
    root.enqueue([cancel_then_answer])
    events: list = []
    engine = make_engine(root, events=events)
    engine.cancel = token
    finished = engine.run("Q?")
    assert finished.status == "cancelled"
    node_done = [e for e in events if isinstance(e, ev.NodeFinished)]
    assert node_done and node_done[0].status == "cancelled"


def test_forced_final_turn_code_runs_in_the_repl() -> None:
    root = ScriptedBackend()
    root.enqueue([code("found = 'ORCHID-7731'\nprint(search('vault'))"), code("print(1)"), code("FINAL(found)")])
    finished = make_engine(root, max_iterations=2).run("What is the vault code?")
    assert finished.status == "budget_exhausted"
    assert finished.answer == "ORCHID-7731"


def test_refused_early_answer_may_be_repeated_once_output_was_seen() -> None:
    root = ScriptedBackend()
    cell = code("print(search('vault'))\nFINAL('ORCHID-7731')")
    root.enqueue([cell, cell])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.status == "ok" and finished.answer == "ORCHID-7731"
    assert len(root.calls) == 2


def test_forced_turn_that_repeats_the_instruction_is_no_answer() -> None:
    root = ScriptedBackend()
    root.enqueue([code(f"search('vault {i}')") for i in range(2)]
                 + ["No more turns: the time budget is used up. Answer now from what you have seen."])
    finished = make_engine(root, max_iterations=2).run("What is the vault code?")
    assert finished.status == "budget_exhausted"
    assert "budget is used up" not in finished.answer


def test_a_forced_answer_naming_values_no_output_showed_is_not_given_as_the_answer() -> None:
    root = ScriptedBackend()
    root.enqueue([code(f"search('vault {i}')") for i in range(2)]
                 + [code("FINAL('4471 (directory/phones.txt:22)')")])  # the worked example's values
    events: list = []
    finished = make_engine(root, events=events, max_iterations=2).run("What is the vault code?")
    assert finished.status == "budget_exhausted"
    # no answer rather than the example's values: a plain statement of what was searched
    assert "4471" not in finished.answer and finished.answer.startswith("Not found: the iterations budget ran out")
    assert "search('vault 0'), search('vault 1')" in finished.answer
    assert any(isinstance(e, ev.Notice) and "4471" in e.text for e in events)


def test_a_model_that_repeats_through_two_corrections_is_asked_for_its_answer_at_once() -> None:
    root = ScriptedBackend()
    same = code("search('vault')")
    root.enqueue([same] * 10 + [code("FINAL('ORCHID-7731')")])
    events: list = []
    finished = make_engine(root, events=events, max_iterations=30, ablate=["passages"]).run("What is the vault code?")
    assert finished.status == "budget_exhausted" and finished.answer == "ORCHID-7731"
    assert len(root.calls) == 11  # not 30 turns of the same search
    assert "No more turns" in last_user(root.calls[-1])
    assert any(isinstance(e, ev.Notice) and "repeated the same cell after 2 corrections" in e.text for e in events)


def test_a_forced_turn_that_is_only_code_is_no_answer() -> None:
    root = ScriptedBackend()
    root.enqueue([code(f"search('vault {i}')") for i in range(2)] + [code("search('vault again')")])
    finished = make_engine(root, max_iterations=2).run("What is the vault code?")
    assert finished.status == "budget_exhausted"
    assert finished.answer.startswith("Not found") and "the rest of the folder was not read" in finished.answer


def test_an_answer_about_a_subject_no_file_contains_is_sent_back_once() -> None:
    def absent_search(messages) -> str:
        return code("print(\"search('Montevideo vault code'): No file contains 'Montevideo'; showing 1 file with some of the other words:\")\nprint(search('vault'))")

    root = ScriptedBackend()
    root.enqueue([absent_search, code("FINAL('ORCHID-7731')"), code("FINAL('Not found: no file mentions Montevideo')")])
    finished = make_engine(root, ablate=["strategy"]).run("What is the vault code of Montevideo?")  # no fallback run
    assert finished.answer == "Not found: no file mentions Montevideo"
    assert "no file contains 'Montevideo'" in last_user(root.calls[2])


def test_an_answer_that_is_a_prompt_template_is_sent_back() -> None:
    root = ScriptedBackend()
    root.enqueue([code("search('vault')"), code("FINAL('<the answer> (<file>:<line>)')"), code("FINAL('ORCHID-7731')")])
    finished = make_engine(root).run("What is the vault code?")
    assert finished.answer == "ORCHID-7731"
    assert "the template" in last_user(root.calls[2])


class _SlowUntilCancelled(ScriptedBackend):
    """A model whose first ``slow`` calls (or every batch) would run for ``seconds``
    unless the cancel token trips: the way a long generation checks between tokens."""

    def __init__(self, name: str = "slow", slow: int = 1, seconds: float = 5.0) -> None:
        super().__init__(name)
        self.slow, self.seconds = slow, seconds

    def _wait(self, cancel) -> bool:
        until = time.monotonic() + self.seconds
        while time.monotonic() < until:
            if cancel is not None and cancel.cancelled:
                return True
            time.sleep(0.01)
        return False

    def chat(self, messages, params=None, *, on_token=None, stop_fn=None, cancel=None):
        from rlm_desktop.llm.backend import Completion

        if self.slow > 0:
            self.slow -= 1
            if self._wait(cancel):
                return Completion("", 10, 0, "cancelled", self.seconds)
        return super().chat(messages, params or ev_params(), on_token=on_token, stop_fn=stop_fn, cancel=cancel)

    def chat_batch(self, conversations, params, cancel=None):
        from rlm_desktop.llm.backend import Completion

        cut = self._wait(cancel)
        return [Completion("" if cut else "x", 10, 1, "cancelled" if cut else "stop", 0.0) for _ in conversations]


def ev_params():
    from rlm_desktop.llm.backend import GenerationParams

    return GenerationParams()


def test_a_root_turn_that_outlasts_the_time_budget_is_cut_at_the_deadline() -> None:
    root = _SlowUntilCancelled("root", slow=1, seconds=20)
    root.enqueue(["FINAL('from the forced turn')"])
    started = time.monotonic()
    finished = make_engine(root, timeout_s=0.5).run("Q?")
    assert time.monotonic() - started < 5  # not the 20 s the turn would have taken
    assert finished.status == "budget_exhausted" and finished.budget == "time"
    assert finished.answer  # the forced turn (which gets a grace) still answers, or says what was not read


def test_a_sub_call_batch_that_outlasts_the_time_budget_stops_at_the_deadline() -> None:
    root = ScriptedBackend()
    root.enqueue([code("print(llm_batch(['a', 'b', 'c']))"), "FINAL('what I had')"])
    sub = _SlowUntilCancelled("sub", slow=0, seconds=20)
    started = time.monotonic()
    finished = make_engine(root, sub, timeout_s=0.5).run("Q?")
    assert time.monotonic() - started < 5
    assert finished.status == "budget_exhausted" and finished.budget == "time"
