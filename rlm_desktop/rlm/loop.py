"""The turns of one attempt at one RLM node: ask the model for a cell, run it, feed the
output back, and judge each answer (``checks.judge`` over the named rules) until one is
accepted, the budget ends the attempt (a forced "answer now" turn), or the run stops.
Repeated cells are answered with passages; a crashed worker is replaced. The engine
(``engine.py``) owns the run, the sessions and the sub-calls; this module owns the loop,
and reaches the engine only through ``LoopHost``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from rlm_desktop.errors import BudgetExceeded, Cancelled, RlmDesktopError, SandboxError
from rlm_desktop.llm.backend import Backend, CancelToken, Completion, GenerationParams, Message
from rlm_desktop.rlm import cells, coverage, prompts, reader
from rlm_desktop.rlm.budget import Budget
from rlm_desktop.rlm.checks import Refusal, judge, parrots_instruction, passes_every_rule, shown_clauses
from rlm_desktop.rlm.citations import CellSources
from rlm_desktop.rlm.events import (
    Event,
    Notice,
    TurnFinished,
)
from rlm_desktop.rlm.grounding import ungrounded_values
from rlm_desktop.rlm.history import fit_messages
from rlm_desktop.rlm.node import NodeOutcome, NodeState
from rlm_desktop.rlm.protocol import (
    clean_answer,
    parse_forced_answer,
    parse_turn,
    stop_after_first_block,
    stop_on_paste,
)
from rlm_desktop.rlm.sandbox.types import CellResult
from rlm_desktop.rlm.strategy import (
    Strategy,
)

log = logging.getLogger(__name__)

ROOT_MAX_TOKENS = 384  # one turn: a short cell; the 1.5B writes ~7 tok/s here
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


class LoopHost(Protocol):
    """What the loop uses of the run (``engine.Engine`` is one)."""

    run_id: str
    ablated: frozenset[str]
    cancel: CancelToken
    budget: Budget

    def emit(self, event: Event) -> None: ...
    def flush_pending(self, node: NodeState, turn: int) -> None: ...
    def run_cell(self, node: NodeState, session, turn: int, code: str) -> tuple[CellResult, object]: ...
    def chat(self, backend: Backend, node_id: str, messages: Sequence[Message], params: GenerationParams, stop_fn=None,
             grace_s: float = 0.0) -> Completion: ...


class NodeLoop:
    def __init__(self, engine: LoopHost) -> None:
        self.engine = engine

    def run(self, node: NodeState, question: str, messages: list[Message], session,
              strategy: Strategy | None = None) -> tuple[NodeOutcome, object]:
        keep_head = len(messages)
        node.examples = "\n".join(m.content for m in messages[:keep_head - 1])  # the prompt and worked examples
        node.strategy = strategy.name if strategy is not None else None
        node.wanted = strategy.answer if strategy is not None else ""
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
        turns_left: int | None = None  # the model's turns after the engine's moves (one-place questions)
        if (strategy is not None and strategy.name in reader.READING_STRATEGIES and attempt_start == 0
                and "read_first" not in self.engine.ablated):
            moves = [(cells.read_first_cell(question), reader.PASSAGES_HINT,
                      "the engine's first move: the passages around the best hits of the question")]
            if "second_move" not in self.engine.ablated:
                moves.append((cells.second_move_cell(question), reader.SECOND_HINT,
                              "the engine's second move: the passages of the question's rarest words"))
            for move_code, hint, notice in moves:
                session, read, lines = self._engine_move(node, messages, session, move_code, hint, notice)
                if read is None:
                    break
                ran.add(cells.normalized(read.code))
                saw_output, last_output = True, read.output
                if "read_passages" in self.engine.ablated:
                    break
                answer = self._read_passages(node, read, lines)
                if answer is not None:
                    return NodeOutcome("ok", clean_answer(answer), saw_output=True), session
            if saw_output and "one_place_turns" not in self.engine.ablated:
                turns_left = reader.TURNS_AFTER_MOVES
        base = turn = node.last_turn
        while True:
            try:
                if node.exhausted is not None:
                    raise node.exhausted
                self.engine.budget.check_iteration(turn - base)
            except BudgetExceeded as exc:
                return self._exhausted(node, session, messages, keep_head, exc, turn), session
            if turns_left is not None and turn - base >= turns_left:
                return self._not_found_after_moves(node, turn), session
            turn += 1
            node.last_turn = turn
            self.engine.budget.iterations += 1
            fitted = fit_messages(node.backend, messages, ROOT_MAX_TOKENS, keep_head)
            # the system prompt and the strategy's examples (all before the question) are
            # the same in every run with this strategy: their KV state is saved and reloaded
            params = GenerationParams(max_tokens=ROOT_MAX_TOKENS, temperature=temperature, stable_messages=keep_head - 1)
            try:
                completion = self.engine.chat(node.backend, node.node_id, fitted, params, stop_on_paste(cells.output_lines(last_output)))
            except BudgetExceeded as exc:  # the time ran out in the middle of the turn
                return self._exhausted(node, session, messages, keep_head, exc, turn), session
            node.prompt_tokens += completion.prompt_tokens
            node.completion_tokens += completion.completion_tokens
            log.debug("%s turn %d: %d prompt tokens (%d evaluated), %d generated, %.1f s", node.node_id, turn,
                      completion.prompt_tokens, completion.evaluated_prompt_tokens, completion.completion_tokens, completion.elapsed_s)
            text = completion.text
            self.engine.emit(
                TurnFinished(self.engine.run_id, node.node_id, turn, text, completion.prompt_tokens, completion.completion_tokens, completion.elapsed_s)
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
                    result, session = self.engine.run_cell(node, session, turn, f"FINAL_VAR({parsed.final_var!r})")
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
            repeated = "repeats" not in self.engine.ablated and cells.normalized(code) in ran
            redraw = "passages" in self.engine.ablated  # the older answer to a repeat: draw again, hotter
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
                    result, session = self.engine.run_cell(node, session, turn, reading)
                    ran.add(cells.normalized(reading))
                    node.evidence.add_output(result.output, result.facts)
                    node.cells.append(CellSources(result.output, tuple(result.sources), reading))
                    saw_output = saw_output or bool(result.output.strip())
                    last_output = result.output
                    self.engine.emit(Notice(self.engine.run_id, node.node_id, turn,
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
                    self.engine.emit(Notice(self.engine.run_id, node.node_id, turn,
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
                self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, "the cell repeats the last output before its code: running only the code"))
                code = rest
            code, notes = cells.mended(code)
            for note in notes:
                self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, note))
            temperature, resampled = 0.0, 0
            ran.add(cells.normalized(code))
            result, session = self.engine.run_cell(node, session, turn, code)
            hints: list[str] = []  # lines sent with this cell's output
            seen = "\n".join([*(c.output for c in node.cells), result.output])
            borrowed = cells.borrowed_literals(code, node.examples, question, seen)
            if borrowed:
                self._hint(node, turn, hints, prompts.borrowed(borrowed))
            if result.killed and not self.engine.cancel.cancelled:
                if restarts >= MAX_RESTARTS:
                    raise SandboxError(f"the REPL worker died {restarts + 1} times ({result.kill_reason})")
                restarts += 1
                self._hint(node, turn, hints, prompts.KILLED.format(reason=result.kill_reason or "killed"))
            if self.engine.cancel.cancelled:
                raise Cancelled("stopped")
            node.evidence.add_output(result.output, result.facts)
            node.cells.append(CellSources(result.output, tuple(result.sources), code))
            node.absent.update(prompts.absent_words(result.output))
            last_output = result.output
            if result.error:
                if ("repeats" not in self.engine.ablated and last_error is not None
                        and cells.last_line(result.error) == cells.last_line(last_error)):
                    self._hint(node, turn, hints, prompts.same_error(result.error))
                last_error = result.error
                cut = cells.cut_final(code) if "unterminated string" in result.error else None
                if cut is not None and saw_output and not grounding_refused:
                    # the answer ran into the token limit inside FINAL's string (a right
                    # total, then an invented figure for each of 60 files): its first
                    # clause is the answer, judged like any other
                    self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, f"FINAL was cut off inside its string; taking its first part: {cut!r}"))
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
                    self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, prompts.NO_OUTPUT_YET))
                    ran.discard(cells.normalized(code))  # now that it has seen the output, the same cell may answer
                    continue
                verdict = self._judge(node, turn, messages, result.answer, True, grounding_refused, result)
                if verdict is None:
                    return NodeOutcome("ok", clean_answer(self._trimmed(node, result.answer)), saw_output=True), session
                grounding_refused = True
                ran.discard(cells.normalized(code))  # insisting on the same answer is allowed once refused
                continue
            if strategy is not None and strategy.name == "multi_step" and "bridge" not in self.engine.ablated:
                name = prompts.bridge(question, result.output)
                if name is not None and name not in bridged and name.lower() not in code.lower():
                    bridged.add(name)
                    self._hint(node, turn, hints, prompts.BRIDGE.format(name=name))
            messages.append(Message("user", prompts.output_message(result.output, result.error, "\n".join(hints))))

    def _engine_move(self, node: NodeState, messages: list[Message], session, code: str, hint: str,
                    notice: str) -> tuple[object, CellSources | None, list[reader.Line]]:
        """One of the engine's own moves before the model's first turn (``code``: the
        passages of the question, then of its rarest words), shown as if the model had
        written it, so the model starts from whole passages rather than from a guess at
        search words. Nothing when the passages come back empty or fail: the model then
        starts as usual. Returns the session, the cell's sources and the lines its passages
        showed (``reader.passage_lines``: the tool's fact, not its printed listing)."""
        turn = node.last_turn + 1
        text = f"```python\n{code}\n```"
        self.engine.emit(TurnFinished(self.engine.run_id, node.node_id, turn, text, 0, 0, 0.0))
        result, session = self.engine.run_cell(node, session, turn, code)
        node.last_turn = turn
        if result.error or result.killed or not result.sources:
            return session, None, []
        self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, notice))
        node.evidence.add_output(result.output, result.facts)
        read = CellSources(result.output, tuple(result.sources), code)
        node.cells.append(read)
        messages.append(Message("assistant", text))
        messages.append(Message("user", prompts.output_message(result.output, None, hint)))
        return session, read, reader.passage_lines(result.facts)

    def _read_passages(self, node: NodeState, read: CellSources, lines: list[reader.Line]) -> str | None:
        """One reading of the passages, as a call of its own: the passages and the
        question, no worked examples, the reply forced to ``reader.READER_SCHEMA`` (the
        line that states the answer, and the answer). The engine finds that line in the
        passages and cites it; the answer is taken only when that line holds it and every
        rule lets it pass. Otherwise nothing of the reading enters the loop's chat, and the
        loop goes on from the passages. Asked as a turn of the loop's own chat, the 1.5B
        gave a worked example's answer in 10 of 22 readings (dev)."""
        turn = node.last_turn + 1
        asked = [Message("system", reader.READER_SYSTEM), Message("user", reader.reading_prompt(node.question, read.output))]
        fitted = fit_messages(node.backend, asked, reader.READER_MAX_TOKENS, 1)
        params = GenerationParams(max_tokens=reader.READER_MAX_TOKENS, temperature=0.0, json_schema=reader.READER_SCHEMA)
        try:
            completion = self.engine.chat(node.backend, node.node_id, fitted, params)
        except (BudgetExceeded, RlmDesktopError) as exc:
            log.info("the passages' reading failed: %s", exc)
            return None
        node.prompt_tokens += completion.prompt_tokens
        node.completion_tokens += completion.completion_tokens
        node.last_turn = turn
        self.engine.emit(TurnFinished(self.engine.run_id, node.node_id, turn, completion.text, completion.prompt_tokens,
                                      completion.completion_tokens, completion.elapsed_s))
        reading = reader.reader_answer(completion.text, lines, node.question)
        if reading is None:
            self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, "the reading found no line of the passages that states the answer"))
            return None
        answer = reading.cited
        if not passes_every_rule(node, answer, self.engine.ablated):
            self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, f"the passages' reading {answer!r} did not pass the checks: reading on"))
            return None
        node.attempts.append(answer)
        self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, "answered from the passages: a line there states it"))
        return answer

    def _hint(self, node: NodeState, turn: int, hints: list[str], text: str) -> None:
        """A line to send with the cell's output, shown in the trace as a Notice."""
        hints.append(text)
        self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, text))

    def _judge(self, node: NodeState, turn: int, messages: list[Message], answer: str, from_code: bool,
               already_refused: bool, result: CellResult | None = None) -> str | None:
        """None when the answer is accepted (``checks.judge``); else the nudge, sent back."""
        if "grounding" in self.engine.ablated:
            node.attempts.append(answer)
            return None
        refusal = judge(node, answer, from_code=from_code, already_refused=already_refused, off=self.engine.ablated)
        return None if refusal is None else self._send_nudge(node, turn, messages, refusal, result)

    def _send_nudge(self, node: NodeState, turn: int, messages: list[Message], refusal: Refusal,
                    result: CellResult | None) -> str:
        """The refusal of an answer, with the output of the cell that gave it (if any).
        The trace's notice names the rule that sent it back (``[ungrounded] ...``), so a
        bench's stored rows count each rule's refusals; the model gets the nudge alone."""
        named = f"[{refusal.rule}] {refusal.nudge}"
        if result is not None:
            messages.append(Message("user", prompts.output_message(result.output, result.error, refusal.nudge)))
            self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, named))
        else:
            self._nudge(node, turn, messages, refusal.nudge, notice=named)
        return refusal.nudge

    def _trimmed(self, node: NodeState, answer: str) -> str:
        """An answer accepted on its second try still naming values no output showed,
        without its clauses that name them (``checks.shown_clauses``): the 1.5B insisted on
        a right total followed by an invented "1000" for every file."""
        shown = None if "grounding" in self.engine.ablated else shown_clauses(answer, node.evidence)
        if shown is None:
            return answer
        self.engine.emit(Notice(self.engine.run_id, node.node_id, node.last_turn,
                                f"the answer's clauses with values no output showed were left out: {shown!r} kept"))
        return shown

    def _nudge(self, node: NodeState, turn: int, messages: list[Message], text: str, notice: str | None = None) -> None:
        """``text`` sent to the model; the trace's notice says ``notice`` (default: the text)."""
        messages.append(Message("user", text))
        self.engine.flush_pending(node, turn)
        self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, notice or text))

    def _not_found_after_moves(self, node: NodeState, turn: int) -> NodeOutcome:
        """A one-place question whose engine moves and ``reader.TURNS_AFTER_MOVES`` model
        turns found no answer the rules let pass: "not found", with what was searched and
        read. Not the last refused answer, nor a forced "answer now" turn: on the dev part,
        answers given after the third model turn were wrong more often than right."""
        self.engine.emit(Notice(self.engine.run_id, node.node_id, turn,
                                f"{reader.TURNS_AFTER_MOVES} turns after the engine's own reading found no answer that passes the checks"))
        return NodeOutcome("budget_exhausted", coverage.not_found_within("turns", node.cells), budget="turns", saw_output=True)

    def _exhausted(self, node: NodeState, session, messages: list[Message], keep_head: int, exc: BudgetExceeded, turn: int) -> NodeOutcome:
        """Best answer so far: the last answer attempt, else one forced "answer now" turn."""
        self.engine.emit(Notice(self.engine.run_id, node.node_id, turn, f"budget used up: {exc}"))
        if node.attempts and node.attempts[-1]:
            return NodeOutcome("budget_exhausted", clean_answer(node.attempts[-1]), budget=exc.budget)
        messages.append(Message("user", prompts.FORCE_ANSWER.format(budget=exc.budget)))
        try:
            fitted = fit_messages(node.backend, messages, FORCED_MAX_TOKENS, keep_head)
            completion = self.engine.chat(node.backend, node.node_id, fitted, GenerationParams(max_tokens=FORCED_MAX_TOKENS),
                                   stop_after_first_block, grace_s=FORCED_GRACE_S)
        except Cancelled:
            raise
        except RlmDesktopError as error:
            return NodeOutcome("budget_exhausted", coverage.not_found_within(exc.budget, node.cells), budget=exc.budget, error=str(error))
        node.prompt_tokens += completion.prompt_tokens
        node.completion_tokens += completion.completion_tokens
        node.last_turn = turn + 1
        self.engine.emit(
            TurnFinished(self.engine.run_id, node.node_id, turn + 1, completion.text, completion.prompt_tokens, completion.completion_tokens, completion.elapsed_s)
        )
        code = parse_turn(completion.text).code
        # a forced turn that is only code (a search again) is no answer; FINAL in it is
        answer = parse_forced_answer(completion.text) if code is None or "FINAL" in code else ""
        from_code = False
        node.evidence.add_model_text(code if code is not None else completion.text)
        if code is not None and session is not None:
            # FINAL(var) in code: let the REPL say what the variable holds
            result, _ = self.engine.run_cell(node, session, turn + 1, code)
            if result.answer_ready and result.answer:
                answer, from_code = result.answer, True
        if parrots_instruction(answer):
            # a small model sometimes repeats the "answer now" instruction as its answer
            answer = ""
        missing = ungrounded_values(answer, node.evidence, from_code=from_code) if answer and "grounding" not in self.engine.ablated else []
        if missing:
            # no turn is left to send it back: a guess (often the worked example's values)
            # is not shown as the answer
            self.engine.emit(Notice(self.engine.run_id, node.node_id, turn + 1,
                              f"the forced answer {answer!r} names {', '.join(map(repr, missing[:3]))}, which no output showed: not used"))
            answer = ""
        if not answer:
            # never an empty answer: say plainly that nothing was found and what was read
            answer = coverage.not_found_within(exc.budget, node.cells)
        return NodeOutcome("budget_exhausted", clean_answer(answer), budget=exc.budget)

    # -- the REPL session -----------------------------------------------------------------

