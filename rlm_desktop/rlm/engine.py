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
from rlm_desktop.rlm import prompts
from rlm_desktop.rlm.budget import Budget, Limits
from rlm_desktop.rlm.citations import cite, library_ref_text, recite
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
)
from rlm_desktop.rlm.grounding import (
    Evidence,
)
from rlm_desktop.rlm.history import cut_to_tokens
from rlm_desktop.rlm.loop import NodeLoop
from rlm_desktop.rlm.node import NodeOutcome, NodeState
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
from rlm_desktop.rlm.tools.extract import RECORD_MAX_TOKENS, RECORD_SCHEMA
from rlm_desktop.settings import Settings

log = logging.getLogger(__name__)

SUB_MAX_TOKENS = 256

# Techniques of issue 10 that ``Settings.ablate`` can switch off (docs/engine.md). Other
# names are accepted and do nothing: the technique is not in the engine, or (imports)
# switching it off would weaken the sandbox.
ABLATABLE = frozenset({"strategy", "echo", "totals", "grounding", "repeats", "passages", "recite", "check_values", "bridge", "read_passages", "second_move", "one_place_turns"}) | WITHOUT_TECHNIQUES | RULE_NAMES
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
            description = self.describe(roots, context_text, backend)
            while True:
                try:
                    messages = prompts.opening(question, description, strategy)
                    if session is None:
                        session = self._start_session(node)
                    outcome, session = NodeLoop(self).run(node, question, messages, session, strategy)
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
            shutil.rmtree(self.scratch(node.node_id), ignore_errors=True)
        outcome.evidence, outcome.cells = node.evidence, node.cells
        if kind == "root" and outcome.answer and "recite" not in self.ablated:
            # before the node's answer is shown: the tree and the run agree on it
            answer, note = recite(outcome.answer, question, outcome.cells, self._ref_text())
            if note is not None:
                node.pending.append(note)
                outcome.answer = answer
        self.flush_pending(node, node.last_turn)
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

    def flush_pending(self, node: NodeState, turn: int) -> None:
        while node.pending:
            self.emit(Notice(self.run_id, node.node_id, turn, node.pending.pop(0)))

    def describe(self, roots: tuple[str, ...], context_text: str | None, backend: Backend) -> str:
        if context_text is not None:
            return prompts.describe_corpus(None, context_text, backend.count_tokens(context_text[:200_000]) if len(context_text) < 200_000 else None)
        if self.library is None:
            raise RlmDesktopError("there is nothing to ask about: add a folder or paste a text")
        return prompts.describe_corpus(self.library.stats(roots or None))

    def _folder_makeup(self, node: NodeState) -> tuple[str, dict[str, int]]:
        """What the plan is told of the folder: its one-line description and file kinds."""
        if node.context_text is not None or self.library is None:
            return self.describe(node.roots, node.context_text, node.backend), {}
        stats = self.library.stats(node.roots or None)
        return prompts.describe_corpus(stats), dict(stats.kinds)

    def scratch(self, node_id: str) -> Path:
        return paths.data_dir() / "scratch" / node_id

    def _start_session(self, node: NodeState):
        scratch = self.scratch(node.node_id)
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

    def run_cell(self, node: NodeState, session, turn: int, code: str) -> tuple[CellResult, object]:
        """Run one cell; a crashed worker is reported and replaced by a fresh one."""
        try:
            result = session.run_cell(code)
        except SandboxError as exc:
            if self.cancel.cancelled:
                raise Cancelled("stopped") from exc
            result = CellResult(output="", error=f"the REPL worker crashed: {exc}", answer=None, answer_ready=False,
                                killed=True, kill_reason=f"crash: {exc}")
        self.emit(CellFinished(self.run_id, node.node_id, turn, code, result.output, result.error, result.elapsed_s))
        self.flush_pending(node, turn)
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
            if request.kind == "record":  # the schema is the engine's, never the worker's
                answers = self.sub_calls(node.node_id, node.depth + 1, list(request.prompts),
                                         max_tokens=RECORD_MAX_TOKENS, json_schema=RECORD_SCHEMA)
            else:
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

    def sub_calls(self, parent_id: str, depth: int, prompt_list: list[str], max_tokens: int = SUB_MAX_TOKENS,
                  json_schema: dict | None = None) -> list[str]:
        """Calls to the sub model: one node each, batched when the backend can; with
        ``json_schema`` every reply is forced to it (llama.cpp's grammar)."""
        self.budget.note_depth(depth)
        fitted = [self.fit_sub_prompt(p) for p in prompt_list]
        ids = []
        for prompt in fitted:
            node_id = self.new_node_id()
            ids.append(node_id)
            self.emit(NodeStarted(self.run_id, node_id, parent_id, "llm", self.sub_backend.name, prompt, depth, time.time()))
        params = GenerationParams(max_tokens=max_tokens, json_schema=json_schema)
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


