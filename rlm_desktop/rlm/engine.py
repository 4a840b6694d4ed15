"""The RLM loop (arXiv 2512.24601): the corpus lives in a REPL, never in the prompt.

Per RLM node: the model gets the API, worked examples, a description of the corpus and
the question; each turn it writes one code block (generation stops at its closing fence);
the block runs in a sandboxed ``ReplSession``; the output comes back as the next user
message; until code (or, after output was seen, a text tag) gives the answer or a budget
runs out. Code asks for sub-calls through the session: ``llm_query``/``llm_batch`` go to
the sub backend, ``rlm_query`` starts a child node with its own session (depth-limited).

    engine = Engine(root_backend, sub_backend, library, settings, sink=print, cancel=token)
    finished = engine.run("How many files mention X?", roots=("/home/me/notes",))

Every step is emitted live as an event (``events.py``) through ``sink``."""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.errors import BudgetExceeded, Cancelled, RlmDesktopError, SandboxError
from rlm_desktop.llm.backend import Backend, CancelToken, Completion, GenerationParams, Message
from rlm_desktop.rlm import cells, coverage, prompts
from rlm_desktop.rlm.budget import Budget, Limits
from rlm_desktop.rlm.checks import judge, parrots_instruction, shown_first_clause
from rlm_desktop.rlm.citations import CellSources, cite, library_ref_text, recite
from rlm_desktop.rlm.events import (
    CellFinished,
    Event,
    EventSink,
    NodeFinished,
    NodeKind,
    NodeStarted,
    Notice,
    RunFinished,
    RunStarted,
    RunStats,
    Status,
    TokenDelta,
    TurnFinished,
)
from rlm_desktop.rlm.grounding import (
    Evidence,
    ungrounded_values,
)
from rlm_desktop.rlm.history import cut_to_tokens, fit_messages
from rlm_desktop.rlm.node import NodeOutcome, NodeState
from rlm_desktop.rlm.protocol import clean_answer, parse_forced_answer, parse_turn, stop_after_first_block
from rlm_desktop.rlm.rules import RULE_NAMES
from rlm_desktop.rlm.sandbox.types import CellResult, LlmReply, LlmRequest, ReplConfig
from rlm_desktop.rlm.strategy import (
    WITHOUT_TECHNIQUES,
    Strategy,
    choose_strategy,
    fallback,
    needs_fallback,
    strategy_named,
    without,
)
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

ROOT_MAX_TOKENS = 384  # one turn: a short cell; the 1.5B writes ~7 tok/s here
SUB_MAX_TOKENS = 256
FORCED_MAX_TOKENS = 160
FORCED_GRACE_S = 45.0  # the forced "answer now" turn may run this long past the time budget
MAX_RESTARTS = 2  # fresh workers per node after a crash or a kill
# A turn that repeats an earlier cell is drawn again (at this temperature) up to this many
# times before the model is told off: the 1.5B, greedy, re-sends the same search for ten
# turns, nudge or not (dev-set traces), but a second draw usually tries something new.
RESAMPLES = 2
MAX_REPEAT_NUDGES = 2  # then the node answers now (a forced turn) instead of repeating on
MAX_PASSAGE_ANSWERS = 3  # repeats answered with the passages around earlier matches
RESAMPLE_TEMPERATURE = 0.7

# Techniques of issue 10 that ``Settings.ablate`` can switch off (docs/engine.md). Other
# names are accepted and do nothing: the technique is not in the engine, or (imports)
# switching it off would weaken the sandbox.
ABLATABLE = frozenset({"strategy", "echo", "totals", "grounding", "repeats", "passages", "recite", "check_values", "bridge"}) | WITHOUT_TECHNIQUES | RULE_NAMES
ABLATE_ALIASES = {"ask_each": "map_helper", "checks": "check_values"}

SessionFactory = Callable[..., object]  # (ReplConfig, on_llm=...) -> a ReplSession


class Engine:
    def __init__(
        self,
        root_backend: Backend,
        sub_backend: Backend,
        library,
        settings: Settings,
        sink: EventSink | None = None,
        cancel: CancelToken | None = None,
        *,
        library_db: Path | None = None,
        session_factory: SessionFactory | None = None,
        child_backend: Backend | None = None,
    ) -> None:
        self.root_backend = root_backend
        self.sub_backend = sub_backend
        # a child RLM's turns: the sub model, on its own KV cache when the pool gives one
        self.child_backend = child_backend or sub_backend
        self.library = library
        self.settings = settings
        self.sink = sink
        self.cancel = cancel or CancelToken()
        self.library_db = library_db or _library_path(library)
        self._session_factory = session_factory
        self._sessions: set = set()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.run_id = ""
        self.budget = Budget(Limits.from_settings(settings))
        self.ablated = _ablated(getattr(settings, "ablate", ()) or ())

    # -- public ---------------------------------------------------------------------------

    def run(
        self,
        question: str,
        roots: Sequence[str] = (),
        context_text: str | None = None,
        method: str = "rlm",
    ) -> RunFinished:
        self.run_id = uuid.uuid4().hex[:12]
        self.budget = Budget(Limits.from_settings(self.settings))
        roots = tuple(str(r) for r in roots)
        self.emit(
            RunStarted(self.run_id, question, method, self.root_backend.name, self.sub_backend.name, time.time())
        )
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_cancel, args=(done,), daemon=True, name="rlm-cancel")
        watcher.start()
        try:
            if method == "rlm":
                outcome = self._rlm_node(question, None, "root", 0, roots, context_text, self.root_backend)
            elif method in ("rag", "direct"):
                from rlm_desktop.rlm import baselines

                outcome = baselines.run(self, method, question, roots, context_text)
            else:
                raise ValueError(f"unknown method {method!r}: use rlm, rag or direct")
        finally:
            done.set()
        citations = cite(outcome.answer, outcome.cells, self._ref_text(), question) if outcome.answer else ()
        b = self.budget
        finished = RunFinished(
            run_id=self.run_id,
            status=outcome.status,
            answer=outcome.answer,
            citations=citations,
            stats=RunStats(
                iterations=b.iterations,
                sub_calls=b.sub_calls,
                depth=b.max_depth_seen,
                prompt_tokens=b.prompt_tokens,
                completion_tokens=b.completion_tokens,
                wall_s=round(b.elapsed_s, 3),
            ),
            budget=outcome.budget,
            error=outcome.error,
        )
        self.emit(finished)
        return finished

    def stop(self) -> None:
        """Stop from any thread: cancels generation and kills the REPL workers at once."""
        self.cancel.cancel()
        self._kill_sessions()

    # -- events & helpers -----------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.sink is None:
            return
        try:
            self.sink(event)
        except Exception:  # a broken consumer must not break the run
            log.exception("event sink failed on %s", type(event).__name__)

    def new_node_id(self) -> str:
        return f"{self.run_id}-{next(self._ids)}"

    def _watch_cancel(self, done: threading.Event) -> None:
        while not done.wait(0.05):
            if self.cancel.cancelled:
                self._kill_sessions()
                return

    def _kill_sessions(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            try:
                session.kill()
            except Exception:
                log.debug("kill failed", exc_info=True)

    def served_notices(self) -> list[str]:
        """One line per model served by another host: where the question and the text the
        model reads go (shown under the run's first turn, in the window and the trace)."""
        lines = []
        seen: set[str] = set()
        for role, backend in (("root", self.root_backend), ("sub-call", self.sub_backend), ("child", self.child_backend)):
            host = getattr(backend, "sends_to", None)
            if host and backend.name not in seen:
                seen.add(backend.name)
                lines.append(f"served: the question and the text the {role} model reads go to {host} ({backend.name})")
        return lines

    def _ref_text(self):
        return library_ref_text(self.library) if self.library is not None else None

    def chat(self, backend: Backend, node_id: str, messages: Sequence[Message], params: GenerationParams, stop_fn=None,
             grace_s: float = 0.0) -> Completion:
        """One model call, counted against the budget, streamed as ``TokenDelta``. It stops
        when the run's time is up (plus ``grace_s``) and raises ``BudgetExceeded("time")``."""
        if self.cancel.cancelled:
            raise Cancelled("stopped")
        deadline = self.budget.deadline(self.cancel, grace_s)
        if deadline.expired:
            raise BudgetExceeded("time", self.budget.time_message())
        completion = backend.chat(
            messages,
            params,
            on_token=lambda text: self.emit(TokenDelta(self.run_id, node_id, text)),
            stop_fn=stop_fn,
            cancel=deadline,
        )
        self.budget.add_tokens(completion.prompt_tokens, completion.completion_tokens)
        if self.cancel.cancelled:
            raise Cancelled("stopped")
        if completion.finish_reason == "cancelled":
            raise BudgetExceeded("time", self.budget.time_message())
        return completion

    # -- the RLM node loop ----------------------------------------------------------------

    def _rlm_node(
        self,
        question: str,
        parent_id: str | None,
        kind: NodeKind,
        depth: int,
        roots: tuple[str, ...],
        context_text: str | None,
        backend: Backend,
    ) -> NodeOutcome:
        node = NodeState(self.new_node_id(), depth, backend, roots, context_text, question=question)
        started = time.monotonic()
        self.budget.note_depth(depth)
        self.emit(NodeStarted(self.run_id, node.node_id, parent_id, kind, backend.name, question, depth, time.time()))
        node.evidence.add_output(question)
        if kind == "root":
            node.pending.extend(self.served_notices())
        session = None
        strategy = self._choose(node, question, kind)
        tried: list[str] = []
        first: NodeOutcome | None = None
        try:
            description = self._describe(roots, context_text, backend)
            while True:
                try:
                    messages = prompts.opening(question, description, strategy)
                    if session is None:
                        session = self._start_session(node)
                    outcome, session = self._loop(node, question, messages, session, strategy)
                except SandboxError as exc:
                    log.warning("REPL worker failed: %s", exc)
                    self.emit(Notice(self.run_id, node.node_id, 0, f"REPL worker failed: {exc}"))
                    outcome = NodeOutcome("error", node.attempts[-1] if node.attempts else "", error=str(exc))
                    if session is not None:
                        self._close_session(session)
                        session = None
                if strategy is None:
                    break
                tried.append(strategy.name)
                if first is not None:
                    # the fallback found nothing better: keep the first attempt's answer
                    if needs_fallback(outcome.answer, outcome.status) and first.status == "ok" and first.answer:
                        outcome = first
                    break
                retry = self._fallback_for(node, question, strategy, tried, outcome, kind)
                if retry is None:
                    break
                first, strategy = outcome, retry
        except Cancelled:
            outcome = NodeOutcome("cancelled", node.attempts[-1] if node.attempts else "")
        except RlmDesktopError as exc:
            outcome = NodeOutcome("error", node.attempts[-1] if node.attempts else "", error=str(exc))
        finally:
            if session is not None:
                self._close_session(session)
            shutil.rmtree(self._scratch(node.node_id), ignore_errors=True)
        outcome.evidence, outcome.cells = node.evidence, node.cells
        if kind == "root" and outcome.answer and "recite" not in self.ablated:
            # before the node's answer is shown: the tree and the run agree on it
            answer, note = recite(outcome.answer, question, outcome.cells, self._ref_text())
            if note is not None:
                node.pending.append(note)
                outcome.answer = answer
        self._flush_pending(node, node.last_turn)
        self.emit(
            NodeFinished(
                self.run_id, node.node_id, outcome.status, outcome.answer, node.prompt_tokens,
                node.completion_tokens, time.monotonic() - started, outcome.error or (outcome.budget and f"budget: {outcome.budget}"),
            )
        )
        return outcome

    def _choose(self, node: NodeState, question: str, kind: NodeKind) -> Strategy | None:
        """The root asks the router (rules, else one short model call); a child RLM takes
        the lookup strategy without a call; ``None`` (fixed examples) when ablated."""
        if "strategy" in self.ablated:
            return None
        if kind != "root":
            return strategy_named("lookup", "default")
        if self.cancel.cancelled:
            raise Cancelled("stopped")
        # the sub model plans: it evaluates the plan prompt about twice as fast as the 1.5B
        # root, and the root's cached prompt prefix stays as it is
        if self.settings.router == "plan":
            folder, kinds = self._folder_makeup(node)
            chosen = choose_strategy(question, self.sub_backend, folder=folder, kinds=kinds, rules=False)
        else:  # the rules never read the folder's make-up: no stats query for them
            chosen = choose_strategy(question, self.sub_backend)
        strategy = without(chosen, self.ablated)
        # shown under the first turn: the runs DB and the tree keep notices per turn
        node.pending.append(f"strategy: {strategy.name} (chosen by {strategy.source})")
        return strategy

    def _fallback_for(self, node: NodeState, question: str, strategy: Strategy, tried: list[str], outcome: NodeOutcome,
                      kind: NodeKind) -> Strategy | None:
        """Once per root node: another strategy when this one came back empty and time and
        tokens remain. The retry starts a fresh conversation in the same node (and the same
        REPL, so variables survive); what the first attempt saw is no evidence for it."""
        if kind != "root" or self.cancel.cancelled:
            return None
        if outcome.status == "budget_exhausted" or not needs_fallback(outcome.answer, outcome.status):
            return None  # a used-up budget (iterations, time, tokens, sub-calls) gets no second run
        if outcome.status == "ok" and prompts.absent_subject(question, node.absent, "\n".join(node.evidence.grounded)):
            # a search said no file contains what the question is about: "not found" is
            # the answer, and a second strategy only searches the same words again
            return None
        try:
            self.budget.check_time()
            self.budget.check_tokens()
        except BudgetExceeded:
            return None
        retry = fallback(strategy, tried)
        retry = without(retry, self.ablated) if retry is not None else None
        if retry is None:
            return None
        why = outcome.error or f"answer {outcome.answer!r}"
        self.emit(Notice(self.run_id, node.node_id, node.last_turn,
                          f"strategy {strategy.name} came back empty ({why}); trying {retry.name} instead"))
        node.evidence = Evidence()
        node.evidence.add_output(question)
        node.attempts = []
        node.exhausted = None
        return retry

    def _loop(self, node: NodeState, question: str, messages: list[Message], session,
              strategy: Strategy | None = None) -> tuple[NodeOutcome, object]:
        keep_head = len(messages)
        node.examples = "\n".join(m.content for m in messages[:keep_head - 1])  # the prompt and worked examples
        node.strategy = strategy.name if strategy is not None else None
        saw_output = False
        ran: set[str] = set()  # normalized cells run in this attempt
        last_output = ""
        temperature, resampled, repeat_nudges = 0.0, 0, 0
        bridged: set[str] = set()  # names already pointed at (multi-step)
        last_error: str | None = None
        grounding_refused = False
        restarts = 0
        passages_given = 0
        shown_windows: set[tuple[str, int]] = set()  # passages shown for repeats, this attempt
        attempt_start = len(node.cells)
        base = turn = node.last_turn
        while True:
            try:
                if node.exhausted is not None:
                    raise node.exhausted
                self.budget.check_iteration(turn - base)
            except BudgetExceeded as exc:
                return self._exhausted(node, session, messages, keep_head, exc, turn), session
            turn += 1
            node.last_turn = turn
            self.budget.iterations += 1
            fitted = fit_messages(node.backend, messages, ROOT_MAX_TOKENS, keep_head)
            # the system prompt and the strategy's examples (all before the question) are
            # the same in every run with this strategy: their KV state is saved and reloaded
            params = GenerationParams(max_tokens=ROOT_MAX_TOKENS, temperature=temperature, stable_messages=keep_head - 1)
            try:
                completion = self.chat(node.backend, node.node_id, fitted, params, stop_after_first_block)
            except BudgetExceeded as exc:  # the time ran out in the middle of the turn
                return self._exhausted(node, session, messages, keep_head, exc, turn), session
            node.prompt_tokens += completion.prompt_tokens
            node.completion_tokens += completion.completion_tokens
            log.debug("%s turn %d: %d prompt tokens (%d evaluated), %d generated, %.1f s", node.node_id, turn,
                      completion.prompt_tokens, completion.evaluated_prompt_tokens, completion.completion_tokens, completion.elapsed_s)
            text = completion.text
            self.emit(
                TurnFinished(self.run_id, node.node_id, turn, text, completion.prompt_tokens, completion.completion_tokens, completion.elapsed_s)
            )
            messages.append(Message("assistant", text))
            parsed = parse_turn(text)

            if parsed.code is None:
                node.evidence.add_model_text(text)
                if parsed.final_text is None and parsed.final_var is None:
                    self._nudge(node, turn, messages, prompts.NO_CODE)
                    continue
                if not saw_output:
                    node.attempts.append(parsed.final_text or "")
                    self._nudge(node, turn, messages, prompts.NO_OUTPUT_YET)
                    continue
                if parsed.final_var is not None:
                    result, session = self._run_cell(node, session, turn, f"FINAL_VAR({parsed.final_var!r})")
                    answer, from_code = (result.answer or ""), True
                else:
                    answer, from_code = parsed.final_text or "", False
                verdict = self._judge(node, turn, messages, answer, from_code, grounding_refused)
                if verdict is None:
                    return NodeOutcome("ok", clean_answer(self._trimmed(node, answer)), saw_output=saw_output), session
                grounding_refused = True
                continue

            code = parsed.code
            node.evidence.add_model_text(code)
            repeated = "repeats" not in self.ablated and cells.normalized(code) in ran
            redraw = "passages" in self.ablated  # the older answer to a repeat: draw again, hotter
            if repeated and not redraw and passages_given < MAX_PASSAGE_ANSWERS:
                # a repeated cell is answered with what its matches say, read in full: the
                # 1.5B re-ran grep('2.35') with the answer's line in its output, never reading it
                windows = cells.passage_windows(node.cells[attempt_start:], code, shown_windows)
                if windows:
                    passages_given += 1
                    shown = getattr(session, "display_path", None)
                    if shown is not None:  # the paths as the model's code sees them
                        windows = [(shown(path), start, end) for path, start, end in windows]
                    reading = cells.passages_cell(windows)
                    result, session = self._run_cell(node, session, turn, reading)
                    ran.add(cells.normalized(reading))
                    node.evidence.add_output(result.output, result.facts)
                    node.cells.append(CellSources(result.output, tuple(result.sources), reading))
                    saw_output = saw_output or bool(result.output.strip())
                    last_output = result.output
                    self.emit(Notice(self.run_id, node.node_id, turn,
                                      f"the cell repeats an earlier one: showing the lines around {len(windows)} of its matches instead"))
                    messages.append(Message("user", prompts.passages_instead(result.output or result.error or "", question)))
                    continue
            if repeated:
                # with passages on, every match of the repeat was read already: no redraw,
                # and greedy decoding stays (a run gives the same answer each time)
                if redraw:
                    temperature = RESAMPLE_TEMPERATURE
                if redraw and resampled < RESAMPLES:
                    resampled += 1
                    messages.pop()  # as if never said: the next draw sees the same prompt
                    self.emit(Notice(self.run_id, node.node_id, turn,
                                      f"the cell repeats an earlier one: drawing another (temperature {RESAMPLE_TEMPERATURE})"))
                    continue
                resampled = 0
                repeat_nudges += 1
                if repeat_nudges > MAX_REPEAT_NUDGES:
                    # stuck: every further turn would be the same cell; answer now instead
                    node.exhausted = BudgetExceeded(
                        "iterations", f"the model repeated the same cell after {MAX_REPEAT_NUDGES} corrections")
                    continue
                self._nudge(node, turn, messages, prompts.repeated(last_output, question))
                continue
            if cells.pastes_output(code, last_output):
                rest = cells.without_pasted(code, last_output)
                if rest is None:
                    # the 1.5B sometimes sends the last output back as its next cell (a
                    # SyntaxError, then the same paste again): point at the line instead
                    temperature = RESAMPLE_TEMPERATURE
                    self._nudge(node, turn, messages, prompts.pasted_output(last_output, question))
                    continue
                # the output pasted back, then FINAL(...): run the code after the paste
                self.emit(Notice(self.run_id, node.node_id, turn, "the cell repeats the last output before its code: running only the code"))
                code = rest
            code, notes = cells.mended(code)
            for note in notes:
                self.emit(Notice(self.run_id, node.node_id, turn, note))
            temperature, resampled = 0.0, 0
            ran.add(cells.normalized(code))
            result, session = self._run_cell(node, session, turn, code)
            hints: list[str] = []  # lines sent with this cell's output
            if result.killed and not self.cancel.cancelled:
                if restarts >= MAX_RESTARTS:
                    raise SandboxError(f"the REPL worker died {restarts + 1} times ({result.kill_reason})")
                restarts += 1
                self._hint(node, turn, hints, prompts.KILLED.format(reason=result.kill_reason or "killed"))
            if self.cancel.cancelled:
                raise Cancelled("stopped")
            node.evidence.add_output(result.output, result.facts)
            node.cells.append(CellSources(result.output, tuple(result.sources), code))
            node.absent.update(prompts.absent_words(result.output))
            last_output = result.output
            if result.error:
                if ("repeats" not in self.ablated and last_error is not None
                        and cells.last_line(result.error) == cells.last_line(last_error)):
                    self._hint(node, turn, hints, prompts.same_error(result.error))
                last_error = result.error
                cut = cells.cut_final(code) if "unterminated string" in result.error else None
                if cut is not None and saw_output and not grounding_refused:
                    # the answer ran into the token limit inside FINAL's string (a right
                    # total, then an invented figure for each of 60 files): its first
                    # clause is the answer, judged like any other
                    self.emit(Notice(self.run_id, node.node_id, turn, f"FINAL was cut off inside its string; taking its first part: {cut!r}"))
                    verdict = self._judge(node, turn, messages, cut, False, grounding_refused, result)
                    if verdict is None:
                        return NodeOutcome("ok", clean_answer(cut), saw_output=True), session
                    grounding_refused = True
                    continue
                if cut is not None:
                    self._hint(node, turn, hints, prompts.FINAL_CUT)
            else:
                last_error = None
            had_seen = saw_output
            saw_output = saw_output or bool(result.output.strip()) or result.corpus_seen

            if result.answer_ready and result.answer is not None:
                if not had_seen:
                    node.attempts.append(result.answer)
                    messages.append(Message("user", prompts.output_message(result.output, result.error, prompts.NO_OUTPUT_YET)))
                    self.emit(Notice(self.run_id, node.node_id, turn, prompts.NO_OUTPUT_YET))
                    ran.discard(cells.normalized(code))  # now that it has seen the output, the same cell may answer
                    continue
                verdict = self._judge(node, turn, messages, result.answer, True, grounding_refused, result)
                if verdict is None:
                    return NodeOutcome("ok", clean_answer(self._trimmed(node, result.answer)), saw_output=True), session
                grounding_refused = True
                ran.discard(cells.normalized(code))  # insisting on the same answer is allowed once refused
                continue
            if strategy is not None and strategy.name == "multi_step" and "bridge" not in self.ablated:
                name = prompts.bridge(question, result.output)
                if name is not None and name not in bridged and name.lower() not in code.lower():
                    bridged.add(name)
                    self._hint(node, turn, hints, prompts.BRIDGE.format(name=name))
            messages.append(Message("user", prompts.output_message(result.output, result.error, "\n".join(hints))))

    def _hint(self, node: NodeState, turn: int, hints: list[str], text: str) -> None:
        """A line to send with the cell's output, shown in the trace as a Notice."""
        hints.append(text)
        self.emit(Notice(self.run_id, node.node_id, turn, text))

    def _judge(self, node: NodeState, turn: int, messages: list[Message], answer: str, from_code: bool,
               already_refused: bool, result: CellResult | None = None) -> str | None:
        """None when the answer is accepted (``checks.judge``); else the nudge, sent back."""
        if "grounding" in self.ablated:
            node.attempts.append(answer)
            return None
        nudge = judge(node, answer, from_code=from_code, already_refused=already_refused, off=self.ablated)
        return None if nudge is None else self._send_nudge(node, turn, messages, nudge, result)

    def _send_nudge(self, node: NodeState, turn: int, messages: list[Message], nudge: str, result: CellResult | None) -> str:
        """The refusal of an answer, with the output of the cell that gave it (if any)."""
        if result is not None:
            messages.append(Message("user", prompts.output_message(result.output, result.error, nudge)))
            self.emit(Notice(self.run_id, node.node_id, turn, nudge))
        else:
            self._nudge(node, turn, messages, nudge)
        return nudge

    def _trimmed(self, node: NodeState, answer: str) -> str:
        """An answer accepted on its second try still naming values no output showed, cut
        to its first clause when that clause holds only shown values: the 1.5B insisted on
        a right total followed by an invented "1000" for every file."""
        first = None if "grounding" in self.ablated else shown_first_clause(answer, node.evidence)
        if first is None:
            return answer
        self.emit(Notice(self.run_id, node.node_id, node.last_turn, f"the answer's values after {first!r} were in no output: left out"))
        return first

    def _nudge(self, node: NodeState, turn: int, messages: list[Message], text: str) -> None:
        messages.append(Message("user", text))
        self._flush_pending(node, turn)
        self.emit(Notice(self.run_id, node.node_id, turn, text))

    def _flush_pending(self, node: NodeState, turn: int) -> None:
        while node.pending:
            self.emit(Notice(self.run_id, node.node_id, turn, node.pending.pop(0)))

    def _exhausted(self, node: NodeState, session, messages: list[Message], keep_head: int, exc: BudgetExceeded, turn: int) -> NodeOutcome:
        """Best answer so far: the last answer attempt, else one forced "answer now" turn."""
        self.emit(Notice(self.run_id, node.node_id, turn, f"budget used up: {exc}"))
        if node.attempts and node.attempts[-1]:
            return NodeOutcome("budget_exhausted", clean_answer(node.attempts[-1]), budget=exc.budget)
        messages.append(Message("user", prompts.FORCE_ANSWER.format(budget=exc.budget)))
        try:
            fitted = fit_messages(node.backend, messages, FORCED_MAX_TOKENS, keep_head)
            completion = self.chat(node.backend, node.node_id, fitted, GenerationParams(max_tokens=FORCED_MAX_TOKENS),
                                   stop_after_first_block, grace_s=FORCED_GRACE_S)
        except Cancelled:
            raise
        except RlmDesktopError as error:
            return NodeOutcome("budget_exhausted", coverage.not_found_within(exc.budget, node.cells), budget=exc.budget, error=str(error))
        node.prompt_tokens += completion.prompt_tokens
        node.completion_tokens += completion.completion_tokens
        node.last_turn = turn + 1
        self.emit(
            TurnFinished(self.run_id, node.node_id, turn + 1, completion.text, completion.prompt_tokens, completion.completion_tokens, completion.elapsed_s)
        )
        code = parse_turn(completion.text).code
        # a forced turn that is only code (a search again) is no answer; FINAL in it is
        answer = parse_forced_answer(completion.text) if code is None or "FINAL" in code else ""
        from_code = False
        node.evidence.add_model_text(code if code is not None else completion.text)
        if code is not None and session is not None:
            # FINAL(var) in code: let the REPL say what the variable holds
            result, _ = self._run_cell(node, session, turn + 1, code)
            if result.answer_ready and result.answer:
                answer, from_code = result.answer, True
        if parrots_instruction(answer):
            # a small model sometimes repeats the "answer now" instruction as its answer
            answer = ""
        missing = ungrounded_values(answer, node.evidence, from_code=from_code) if answer and "grounding" not in self.ablated else []
        if missing:
            # no turn is left to send it back: a guess (often the worked example's values)
            # is not shown as the answer
            self.emit(Notice(self.run_id, node.node_id, turn + 1,
                              f"the forced answer {answer!r} names {', '.join(map(repr, missing[:3]))}, which no output showed: not used"))
            answer = ""
        if not answer:
            # never an empty answer: say plainly that nothing was found and what was read
            answer = coverage.not_found_within(exc.budget, node.cells)
        return NodeOutcome("budget_exhausted", clean_answer(answer), budget=exc.budget)

    # -- the REPL session -----------------------------------------------------------------

    def _describe(self, roots: tuple[str, ...], context_text: str | None, backend: Backend) -> str:
        if context_text is not None:
            return prompts.describe_corpus(None, context_text, backend.count_tokens(context_text[:200_000]) if len(context_text) < 200_000 else None)
        if self.library is None:
            raise RlmDesktopError("there is nothing to ask about: add a folder or paste a text")
        return prompts.describe_corpus(self.library.stats(roots or None))

    def _folder_makeup(self, node: NodeState) -> tuple[str, dict[str, int]]:
        """What the plan is told of the folder: its one-line description and file kinds."""
        if node.context_text is not None or self.library is None:
            return self._describe(node.roots, node.context_text, node.backend), {}
        stats = self.library.stats(node.roots or None)
        return prompts.describe_corpus(stats), dict(stats.kinds)

    def _scratch(self, node_id: str) -> Path:
        return paths.data_dir() / "scratch" / node_id

    def _start_session(self, node: NodeState):
        scratch = self._scratch(node.node_id)
        scratch.mkdir(parents=True, exist_ok=True)
        config = ReplConfig(
            scratch_dir=scratch,
            library_db=None if node.context_text is not None else self.library_db,
            roots=node.roots,
            context_text=node.context_text,
            cell_timeout_s=self.settings.cell_timeout_s,
            memory_mb=self.settings.sandbox_memory_mb,
            output_chars=self.settings.output_chars,
            echo="echo" not in self.ablated,
            totals="totals" not in self.ablated,
            check_values="check_values" not in self.ablated,
        )
        factory = self._session_factory
        if factory is None:
            from rlm_desktop.rlm.sandbox.session import ReplSession

            factory = ReplSession
        session = factory(config, on_llm=lambda request: self._on_llm(node, request))
        with self._lock:
            self._sessions.add(session)
        if self.cancel.cancelled:
            raise Cancelled("stopped")
        session.start()
        return session

    def _close_session(self, session) -> None:
        with self._lock:
            self._sessions.discard(session)
        try:
            session.close()
        except Exception:
            log.debug("closing a session failed", exc_info=True)

    def _run_cell(self, node: NodeState, session, turn: int, code: str) -> tuple[CellResult, object]:
        """Run one cell; a crashed worker is reported and replaced by a fresh one."""
        try:
            result = session.run_cell(code)
        except SandboxError as exc:
            if self.cancel.cancelled:
                raise Cancelled("stopped") from exc
            result = CellResult(output="", error=f"the REPL worker crashed: {exc}", answer=None, answer_ready=False,
                                killed=True, kill_reason=f"crash: {exc}")
        self.emit(CellFinished(self.run_id, node.node_id, turn, code, result.output, result.error, result.elapsed_s))
        self._flush_pending(node, turn)
        if result.killed and not self.cancel.cancelled:
            self._close_session(session)
            session = self._start_session(node)
        return result, session

    # -- sub-calls (called from inside run_cell, on this thread) --------------------------

    def _on_llm(self, node: NodeState, request: LlmRequest) -> LlmReply:
        try:
            if self.cancel.cancelled:
                raise Cancelled("stopped")
            if request.kind == "rlm":
                return LlmReply((self._rlm_query(node, request),))
            left = self.budget.sub_calls_left()
            if 0 < left < len(request.prompts):
                # refused before anything is spent, and the run goes on: the model can
                # narrow the files or take a sample it says it took
                return LlmReply((), error=prompts.TOO_MANY_SUB_CALLS.format(asked=len(request.prompts), left=left))
            self.budget.take_sub_calls(len(request.prompts))
            answers = self.sub_calls(node.node_id, node.depth + 1, list(request.prompts))
            for answer in answers:
                node.evidence.add_sub_answer(answer, had_corpus_text=request.has_corpus_text)
            return LlmReply(tuple(answers))
        except BudgetExceeded as exc:
            node.exhausted = exc
            return LlmReply((), error=f"budget used up: {exc}")
        except Cancelled:
            return LlmReply((), error="stopped")
        except RlmDesktopError as exc:
            log.warning("sub-call failed: %s", exc)
            return LlmReply((), error=str(exc))

    def _rlm_query(self, node: NodeState, request: LlmRequest) -> str:
        question = request.prompts[0] if request.prompts else ""
        self.budget.take_sub_calls(1)
        if not self.budget.can_spawn_rlm(node.depth):
            text = request.context_text if request.context_text is not None else self._read_paths(request.context_paths)
            answer = self.sub_calls(node.node_id, node.depth + 1, [prompts.sub_call_prompt(question, text)])[0]
            node.evidence.add_sub_answer(answer, had_corpus_text=bool(text.strip()))
            return answer
        roots = tuple(request.context_paths) or node.roots
        child = self._rlm_node(question, node.node_id, "rlm", node.depth + 1, roots, request.context_text, self.child_backend)
        if child.status == "cancelled":
            raise Cancelled("stopped")
        node.evidence.add_sub_answer(child.answer, had_corpus_text=child.saw_output)
        return child.answer

    def _read_paths(self, paths_: Sequence[str]) -> str:
        if self.library is None or not paths_:
            return ""
        return "\n\n".join(f"### {p}\n{self.library.text(p)}" for p in paths_)

    def fit_sub_prompt(self, prompt: str) -> str:
        """Cut a sub-call prompt to the sub model's window, with a visible marker."""
        backend = self.sub_backend
        overhead = backend.count_chat_tokens([Message("user", "")])
        return cut_to_tokens(backend, prompt, backend.n_ctx - SUB_MAX_TOKENS - overhead - 8)

    def sub_calls(self, parent_id: str, depth: int, prompt_list: list[str], max_tokens: int = SUB_MAX_TOKENS) -> list[str]:
        """Plain calls to the sub model: one node each, batched when the backend can."""
        self.budget.note_depth(depth)
        fitted = [self.fit_sub_prompt(p) for p in prompt_list]
        ids = []
        for prompt in fitted:
            node_id = self.new_node_id()
            ids.append(node_id)
            self.emit(NodeStarted(self.run_id, node_id, parent_id, "llm", self.sub_backend.name, prompt, depth, time.time()))
        params = GenerationParams(max_tokens=max_tokens)
        conversations = [[Message("user", p)] for p in fitted]
        started = time.monotonic()
        batch = getattr(self.sub_backend, "chat_batch", None)
        completions: list[Completion] = []
        try:
            if batch is not None and len(conversations) > 1:
                deadline = self.budget.deadline(self.cancel)
                completions = list(batch(conversations, params, cancel=deadline))
                for c in completions:
                    self.budget.add_tokens(c.prompt_tokens, c.completion_tokens)
                if self.cancel.cancelled or any(c.finish_reason == "cancelled" for c in completions):
                    completions = []
                    if self.cancel.cancelled:
                        raise Cancelled("stopped")
                    raise BudgetExceeded("time", self.budget.time_message())
            else:
                for node_id, conversation in zip(ids, conversations, strict=True):
                    completions.append(self.chat(self.sub_backend, node_id, conversation, params))
        except Exception as exc:
            status: Status = "cancelled" if isinstance(exc, Cancelled) else "error"
            for node_id in ids[len(completions):]:
                self.emit(NodeFinished(self.run_id, node_id, status, "", 0, 0, time.monotonic() - started, str(exc)))
            for node_id, c in zip(ids, completions, strict=False):
                self.emit(NodeFinished(self.run_id, node_id, "ok", c.text, c.prompt_tokens, c.completion_tokens, c.elapsed_s))
            raise
        for node_id, c in zip(ids, completions, strict=False):
            self.emit(NodeFinished(self.run_id, node_id, "ok", c.text.strip(), c.prompt_tokens, c.completion_tokens, c.elapsed_s))
        return [c.text.strip() for c in completions]


def _library_path(library) -> Path | None:
    for name in ("db_path", "path"):
        value = getattr(library, name, None)
        if value:
            return Path(value)
    return None


def _ablated(names) -> frozenset[str]:
    """The switched-off techniques, aliases resolved; 'all' means every one (the plain loop)."""
    resolved = {ABLATE_ALIASES.get(str(n), str(n)) for n in names}
    if "all" in resolved:
        resolved |= ABLATABLE
    return frozenset(resolved)


