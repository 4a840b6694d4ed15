"""``rlm-desktop bench llm [--models M ...] [--quick] [--json FILE]``: inference speed of the
llama.cpp backend, each figure against its baseline measured in the same process.

Per model:
- prompt and generation tokens/s of one sequence (a ~300-token prompt, 48 tokens);
- ``llm_batch`` of 1, 4 and 8 such prompts, batched in one context versus one by one:
  wall time, the ratio, decode-phase generated tokens/s, and how many answers are
  identical at temperature 0;
- a 6-turn scripted root conversation: prompt tokens evaluated per turn with KV reuse
  versus without (without, every turn evaluates its whole prompt);
- the system prompt: evaluated cold versus its saved KV state loaded from disk;
- the root lane: memory of a separate context versus the time to save and restore the
  root's state around sub-calls (the other way to keep the root's prefix);
- the answer cache: the same conversation and batch asked again.
The answer cache of the app is not used for the timings (a temporary one is)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlm_desktop.llm.backend import GenerationParams, Message
from rlm_desktop.settings import DEFAULT_ROOT_MODEL, DEFAULT_SUB_MODEL, Settings

TARGET_DECODE_GAIN = 2.0
TARGET_CACHE_GAIN = 5.0
TURN_OVERHEAD_ALLOWED = 8  # "new tokens plus a handful"

PLACES = ("Oslo", "Lyon", "Porto", "Gdansk", "Turin", "Bergen", "Leeds", "Ghent", "Cork", "Basel")
GOODS = ("crates of apples", "rolls of copper wire", "barrels of oil", "boxes of lenses", "sacks of rice")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


@dataclass(frozen=True)
class Plan:
    prompt_tokens: int = 300
    gen_tokens: int = 48
    sizes: tuple[int, ...] = (1, 4, 8)
    system_tokens: int = 800
    turns: int = 6
    turn_tokens: int = 24

    @classmethod
    def quick(cls) -> Plan:
        return cls(prompt_tokens=150, gen_tokens=24, sizes=(1, 4, 8), system_tokens=300, turns=4, turn_tokens=16)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("llm", help="prompt/generation tokens/s, batched llm_batch, root KV reuse, state and cache")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL", help="catalog names or .gguf paths (default: both default models)")
    p.add_argument("--quick", action="store_true", help="shorter prompts and answers, 4 root turns")
    p.add_argument("--batch-invariant", action="store_true",
                   help="weights not repacked and compute graphs under 64 tokens (identical batched answers, slower prompts)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--server", metavar="URL", help="instead: the same 32-file map in process and on this OpenAI-compatible "
                   "server at 1, 4 and 8 concurrent requests")
    p.add_argument("--server-model", metavar="NAME", help="the model's name on --server (default: the first it lists)")
    p.set_defaults(func=main)


MAP_FILES = 32
MAP_CONCURRENCY = (1, 4, 8)


def _map_prompts(count) -> list[list[Message]]:
    """The map of an RLM over a folder: one short file per prompt, one question each."""
    return [[Message("user", f"Which cities does this note name? Answer with the city names only.\n\n{notes(i + 1, 120, count)}")]
            for i in range(MAP_FILES)]


def bench_served_map(url: str, model: str | None, local: str, settings: Settings, say) -> dict[str, Any]:
    """The same 32-prompt map, at temperature 0: the in-process backend (batched on its
    sequences, the app's way) against the served backend at 1, 4 and 8 requests in flight."""
    from rlm_desktop.llm.backend import chat_batch
    from rlm_desktop.llm.loader import load_backend
    from rlm_desktop.llm.server_backend import ServerBackend, ServerConfig

    params = GenerationParams(max_tokens=24)
    out: dict[str, Any] = {"files": MAP_FILES, "server": url}
    backend = load_backend(local, settings, role="sub")
    try:
        prompts = _map_prompts(backend.count_tokens)
        started = time.monotonic()
        answers = chat_batch(backend, prompts, params)
        out["in_process_s"] = round(time.monotonic() - started, 2)
        out["in_process_tokens"] = sum(a.completion_tokens for a in answers)
        say(f"  in process ({Path(str(local)).name}): {out['in_process_s']:.1f} s for {MAP_FILES} files")
    finally:
        backend.close()
    probe = ServerBackend(ServerConfig(url=url, model=model or ""))
    try:
        name = model or (probe.list_models() or [""])[0]
    finally:
        probe.close()
    out["server_model"] = name
    for n in MAP_CONCURRENCY:
        served = ServerBackend(ServerConfig(url=url, model=name, concurrency=n, n_ctx=settings.n_ctx))
        try:
            started = time.monotonic()
            answers = chat_batch(served, prompts, params)
            elapsed = time.monotonic() - started
        finally:
            served.close()
        out[f"served_{n}_s"] = round(elapsed, 2)
        say(f"  served, {n} in flight: {elapsed:.1f} s ({out['in_process_s'] / elapsed:.2f}x in process)")
    return out


def notes(seed: int, n_tokens: int, count) -> str:
    """Deterministic business notes of about ``n_tokens`` tokens (``count`` counts)."""
    lines: list[str] = []
    i = 0
    while True:
        k = seed * 7919 + i * 104729
        lines.append(
            f"Note {seed}.{i}: on {DAYS[k % 5]} {10 + k % 80} {GOODS[(k // 5) % 5]} left {PLACES[k % 10]} "
            f"for {PLACES[(k // 10) % 10]}; the invoice was {100 + k % 900} euros."
        )
        i += 1
        if i % 4 == 0 and count("\n".join(lines)) >= n_tokens:
            return "\n".join(lines)


def _batch_prompt(i: int, plan: Plan, count) -> list[Message]:
    text = notes(i + 1, plan.prompt_tokens - 40, count)
    return [Message("user", f"Summarise these shipping notes in a detailed paragraph, naming every city.\n\n{text}")]


class _BufferLog(logging.Handler):
    """Catches llama.cpp's buffer-size lines while a context is created."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def mib(self, what: str) -> float:
        total = 0.0
        for line in self.lines:
            m = re.search(rf"{what} buffer size =\s*([\d.]+) MiB", line)
            if m:
                total += float(m.group(1))
        return total


def bench_model(path: Path, settings: Settings, plan: Plan, say, invariant: bool = False) -> dict[str, Any]:
    from rlm_desktop.llm.batch import BATCH_INVARIANT_UBATCH
    from rlm_desktop.llm.cache import CachedBackend, PromptStateStore, SubcallCache
    from rlm_desktop.llm.lane import LoadedModel
    from rlm_desktop.llm.llama_backend import LlamaCppBackend

    out: dict[str, Any] = {"model": path.name}
    started = time.monotonic()
    model = LoadedModel(path, n_gpu_layers=settings.n_gpu_layers, repack=not invariant)
    ubatch = BATCH_INVARIANT_UBATCH if invariant else None
    out["batch_invariant"] = invariant
    out["load_s"] = round(time.monotonic() - started, 2)
    work = Path(tempfile.mkdtemp(prefix="rlm-bench-llm-"))
    catcher = _BufferLog()
    llama_log = logging.getLogger("rlm_desktop.llm.llama_cpp")
    llama_log.addHandler(catcher)
    try:
        sub = LlamaCppBackend(model, n_ctx=settings.n_ctx, n_threads=settings.n_threads, n_seq_max=8, name="sub", n_ubatch=ubatch)
        catcher.lines.clear()
        root = LlamaCppBackend(
            model, n_ctx=settings.n_ctx, n_threads=settings.n_threads, n_seq_max=2, name="root",
            state_store=PromptStateStore(work / "kv"), n_ubatch=ubatch,
        )
        out["context_mib"] = {"kv": catcher.mib("KV"), "compute": catcher.mib("compute")}
    finally:
        llama_log.removeHandler(catcher)
    try:
        sub.chat([Message("user", "Hi")], GenerationParams(max_tokens=2))  # page the weights in
        out["single"] = _single(sub, plan, say)
        out["batch"] = _batches(sub, plan, say)
        cache = SubcallCache(work / "cache.db")
        out["root"] = _root_turns(root, CachedBackend(root, cache), plan, work / "kv", out, say)
        out["cache"] = _cache(sub, root, CachedBackend(sub, cache), CachedBackend(root, cache), out, plan, say)
    finally:
        root.close()
        sub.close()
        model.close()
    return out


def _single(sub, plan: Plan, say) -> dict[str, float]:
    sub.forget()
    sub.chat(_batch_prompt(0, plan, sub.count_tokens), GenerationParams(max_tokens=plan.gen_tokens))
    st = sub.last_stats
    result = {
        "prompt_tokens": st.evaluated_prompt_tokens,
        "prompt_tok_s": round(st.evaluated_prompt_tokens / st.prompt_s, 1),
        "generated": st.generated_tokens,
        "gen_tok_s": round(st.generated_tokens / st.decode_s, 1),
    }
    say(f"  one sequence: prompt {result['prompt_tok_s']} tok/s ({st.evaluated_prompt_tokens} tokens), "
        f"generation {result['gen_tok_s']} tok/s ({st.generated_tokens} tokens)")
    return result


def _batches(sub, plan: Plan, say) -> list[dict[str, Any]]:
    n = max(plan.sizes)
    convs = [_batch_prompt(i, plan, sub.count_tokens) for i in range(n)]
    params = GenerationParams(max_tokens=plan.gen_tokens)
    sub.forget()
    alone = []
    for conv in convs:
        t = time.monotonic()
        c = sub.chat(conv, params)
        st = sub.last_stats
        alone.append((time.monotonic() - t, st.decode_s, st.generated_tokens, c.text))
    rows = []
    say(f"  llm_batch ({plan.prompt_tokens}-token prompts, {plan.gen_tokens} tokens each):")
    say("    n | sequential s | batched s | ratio | decode tok/s seq -> batched | identical")
    for k in plan.sizes:
        sub.forget()
        t = time.monotonic()
        together = sub.chat_batch(convs[:k], params)
        wall = time.monotonic() - t
        st = sub.last_stats
        seq_wall = sum(a[0] for a in alone[:k])
        seq_decode = sum(a[2] for a in alone[:k]) / sum(a[1] for a in alone[:k])
        row = {
            "n": k,
            "sequential_s": round(seq_wall, 1),
            "batched_s": round(wall, 1),
            "ratio": round(seq_wall / wall, 2),
            "seq_decode_tok_s": round(seq_decode, 1),
            "batched_decode_tok_s": round(st.generated_tokens / st.decode_s, 1),
            "batched_prompt_s": round(st.prompt_s, 1),
            "batched_evaluated_prompt_tokens": st.evaluated_prompt_tokens,
            "identical": sum(a[3] == b.text for a, b in zip(alone, together, strict=False)),
        }
        rows.append(row)
        say(f"    {k} | {row['sequential_s']:12} | {row['batched_s']:9} | {row['ratio']:5} | "
            f"{row['seq_decode_tok_s']:>6} -> {row['batched_decode_tok_s']:<6} | {row['identical']}/{k}")
    base = next((r["batched_decode_tok_s"] for r in rows if r["n"] == 1), rows[0]["seq_decode_tok_s"])
    top = rows[-1]
    gain = top["batched_decode_tok_s"] / base
    say(f"    decode gain at {top['n']} sequences: {gain:.2f}x (target >= {TARGET_DECODE_GAIN}x: "
        f"{'met' if gain >= TARGET_DECODE_GAIN else 'NOT met'})")
    return rows


def _conversation(plan: Plan, count) -> tuple[Message, list[str]]:
    system = Message(
        "system",
        "You answer questions about the user's files by writing Python code. The files are in `context`; "
        "use search(query, k), grep(pattern) and read(path, start, end). Reference material follows.\n"
        + notes(99, plan.system_tokens - 60, count),
    )
    outputs = [
        "Which city received the most crates of apples?",
        *[f"Output:\n{notes(200 + i, 60, count)}" for i in range(plan.turns - 1)],
    ]
    return system, outputs


def _run_conversation(backend, plan: Plan, count) -> list[dict[str, Any]]:
    system, user_turns = _conversation(plan, count)
    messages = [system]
    turns = []
    previous_end = 0
    for text in user_turns:
        messages.append(Message("user", text))
        t = time.monotonic()
        c = backend.chat(messages, GenerationParams(max_tokens=plan.turn_tokens))
        wall = time.monotonic() - t
        turns.append({
            "prompt_s": round(backend.last_stats.prompt_s, 2) if not c.cached else 0.0,
            "prompt_tokens": c.prompt_tokens,
            "new_tokens": c.prompt_tokens - previous_end,
            "evaluated": c.evaluated_prompt_tokens,
            "wall_s": round(wall, 2),
            "cached": c.cached,
        })
        previous_end = c.prompt_tokens + c.completion_tokens
        messages.append(Message("assistant", c.text))
    return turns


def _root_turns(root, cached_root, plan: Plan, state_dir: Path, out: dict[str, Any], say) -> dict[str, Any]:
    root.forget()
    turns = _run_conversation(cached_root, plan, root.count_tokens)
    with_reuse = sum(t["evaluated"] for t in turns)
    without = sum(t["prompt_tokens"] for t in turns)
    say(f"  root conversation, {len(turns)} turns: prompt tokens evaluated with KV reuse {with_reuse}, without {without}")
    say("    turn | prompt | new since last turn | evaluated")
    for i, t in enumerate(turns, 1):
        say(f"    {i:4} | {t['prompt_tokens']:6} | {t['new_tokens']:18} | {t['evaluated']}")
    worst = max(t["evaluated"] - t["new_tokens"] for t in turns[1:]) if len(turns) > 1 else 0
    say(f"    turns after the first evaluate at most new + {max(worst, 0)} tokens "
        f"(target: a handful, <= {TURN_OVERHEAD_ALLOWED}: {'met' if worst <= TURN_OVERHEAD_ALLOWED else 'NOT met'})")

    out["lanes"] = _lanes(root, out, say)  # with the whole conversation in the cache

    # the system prompt: cold (turn 1 above) versus its state loaded from disk
    system, user_turns = _conversation(plan, root.count_tokens)
    first = [system, Message("user", user_turns[0])]
    root.forget()
    t = time.monotonic()
    again = root.chat(first, GenerationParams(max_tokens=1))
    loaded_s = time.monotonic() - t - root.last_stats.decode_s
    cold_prompt_s = turns[0]["prompt_s"]
    state_files = list(state_dir.glob("*.kvstate"))
    state = {
        "system_prompt_tokens": root.count_chat_tokens([system]) - 3,
        "cold_prompt_s": cold_prompt_s,
        "from_saved_state_prompt_s": round(loaded_s, 2),
        "evaluated_after_load": again.evaluated_prompt_tokens,
        "state_file_mb": round(sum(f.stat().st_size for f in state_files) / 1e6, 1),
    }
    say(f"  system prompt (~{state['system_prompt_tokens']} tokens): first prompt cold {cold_prompt_s} s "
        f"({turns[0]['evaluated']} tokens evaluated), after a restart from the saved state "
        f"{state['from_saved_state_prompt_s']} s (load + {again.evaluated_prompt_tokens} tokens evaluated; "
        f"state file {state['state_file_mb']} MB)")
    return {"turns": turns, "evaluated_with_reuse": with_reuse, "evaluated_without_reuse": without,
            "worst_overhead": worst, "system_prompt_state": state}


def _lanes(root, out: dict[str, Any], say) -> dict[str, Any]:
    """Separate context per lane (what the app does) versus one context whose root state is
    saved before sub-calls and restored after."""
    ctx = root.context
    with root.model.lock:
        t = time.monotonic()
        snap = ctx.snapshot()
        saved_s = time.monotonic() - t
        t = time.monotonic()
        ctx.restore(snap)
        restored_s = time.monotonic() - t
    lanes = {
        "root_tokens": len(snap[1]),
        "state_mb": round(len(snap[0]) / 1e6, 1),
        "save_s": round(saved_s, 3),
        "restore_s": round(restored_s, 3),
        "extra_context_mib": round(out["context_mib"]["kv"] + out["context_mib"]["compute"], 1),
    }
    say(f"  root lane: a separate context costs {lanes['extra_context_mib']} MiB "
        f"(KV {out['context_mib']['kv']} + compute {out['context_mib']['compute']}); saving and restoring the "
        f"root's {lanes['root_tokens']} tokens ({lanes['state_mb']} MB) around each llm_batch costs "
        f"{lanes['save_s'] + lanes['restore_s']:.3f} s")
    return lanes


def _cache(sub, root, cached_sub, cached_root, out: dict[str, Any], plan: Plan, say) -> dict[str, Any]:
    convs = [_batch_prompt(i, plan, sub.count_tokens) for i in range(4)]
    params = GenerationParams(max_tokens=plan.gen_tokens)
    t = time.monotonic()
    cached_sub.chat_batch(convs, params)
    first_batch = time.monotonic() - t
    first_root = sum(turn["wall_s"] for turn in out["root"]["turns"])
    t = time.monotonic()
    again = _run_conversation(cached_root, plan, root.count_tokens)
    hits = cached_sub.chat_batch(convs, params)
    repeat = time.monotonic() - t
    first = first_root + first_batch
    gain = first / max(repeat, 1e-6)
    result = {
        "first_s": round(first, 1),
        "repeat_s": round(repeat, 3),
        "gain": round(gain, 1),
        "all_cached": all(t["cached"] for t in again) and all(c.cached for c in hits),
    }
    say(f"  asked again ({len(again)} root turns + llm_batch of 4): first {result['first_s']} s, "
        f"repeat {result['repeat_s']} s, {gain:.0f}x (target >= {TARGET_CACHE_GAIN}x: "
        f"{'met' if gain >= TARGET_CACHE_GAIN and result['all_cached'] else 'NOT met'})")
    return result


def _machine() -> dict[str, Any]:
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    import llama_cpp

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "avx2": " avx2" in flags,
        "avx512": "avx512f" in flags,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "llama_cpp_python": llama_cpp.__version__,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def main(args: argparse.Namespace) -> int:
    from rlm_desktop.llm.loader import resolve_model_path

    plan = Plan.quick() if args.quick else Plan()
    settings = Settings(subcall_cache=False)
    names: Sequence[str] = args.models or (DEFAULT_SUB_MODEL, DEFAULT_ROOT_MODEL)
    report: dict[str, Any] = {"plan": asdict(plan), "machine": _machine(), "settings": {"n_ctx": settings.n_ctx, "n_threads": settings.n_threads}, "models": {}}

    def say(line: str) -> None:
        print(line, flush=True)

    if args.server:
        say(f"bench llm --server: a {MAP_FILES}-file map, in process and served; {report['machine']['cores']} cores, "
            f"threads {settings.n_threads}, load average {report['machine']['load_average']}")
        report["served_map"] = bench_served_map(args.server, args.server_model, (args.models or [DEFAULT_SUB_MODEL])[0], settings, say)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
        return 0

    say(f"bench llm: {report['machine']['cores']} cores, avx2={report['machine']['avx2']}, "
        f"avx512={report['machine']['avx512']}, gpu={report['machine']['gpu_offload']}, "
        f"threads {settings.n_threads}, n_ctx {settings.n_ctx}, batch-invariant {args.batch_invariant}, load average {report['machine']['load_average']}")
    for name in names:
        path = resolve_model_path(name)
        say(f"\n{path.name}")
        started = time.monotonic()
        report["models"][path.name] = bench_model(path, settings, plan, say, invariant=args.batch_invariant)
        say(f"  ({time.monotonic() - started:.0f} s)")
    report["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        say(f"\nwrote {args.json}")
    return 0
