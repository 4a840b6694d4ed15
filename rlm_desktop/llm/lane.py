"""A loaded model: the weights (loaded once, shared by every context on them), the lock
that every caller queues on (the model's "lane"), the tokenizer and the chat template.

llama.cpp objects are not thread-safe, so everything that touches the weights or a
context of them runs under ``LoadedModel.lock``. Contexts (KV caches) are separate
objects so the root's cached prefix survives sub-calls on the same weights."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rlm_desktop.errors import ModelError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"

# Used when a GGUF carries no chat template: ChatML, which the Qwen family speaks.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _LlamaLog:
    """Routes llama.cpp's C log into ``logging`` and keeps the last error lines so a failed
    load can say why. llama.cpp's log hook is process-global, hence one instance here."""

    def __init__(self) -> None:
        self.recent: collections.deque[str] = collections.deque(maxlen=20)
        self._logger = logging.getLogger("rlm_desktop.llm.llama_cpp")
        self._callback = None
        self._lock = threading.Lock()

    def install(self) -> None:
        with self._lock:
            if self._callback is not None:
                return
            import llama_cpp

            # ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation.
            # llama.cpp's info chatter goes to debug: the log file keeps it, stderr not.
            levels = {3: logging.WARNING, 4: logging.ERROR}

            @llama_cpp.llama_log_callback
            def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
                message = text.decode("utf-8", errors="replace").rstrip()
                if not message:
                    return
                if level in levels:
                    self.recent.append(message)
                self._logger.log(levels.get(level, logging.DEBUG), "%s", message)

            self._callback = callback  # keep a reference: C holds only the pointer
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()


_LLAMA_LOG = _LlamaLog()
# fd 2 is one per process: two captures at once would leave it pointing at a closed file
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _captured_stderr():
    """Collect what C code writes to file descriptor 2 meanwhile: yields a list that holds
    its lines once the block is left. What was written goes on to the real stderr after,
    so text from another thread in that moment is delayed, not lost. Without a usable
    fd 2 (a windowed app) nothing is captured."""
    lines: list[str] = []
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield lines
            return
        with tempfile.TemporaryFile() as capture:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                data = capture.read()
                if data:
                    os.write(2, data)
                    lines += data.decode("utf-8", errors="replace").splitlines()


def check_gguf_file(path: Path) -> None:
    """Fail early, with a message a person can act on, before llama.cpp sees the file."""
    if not path.exists():
        raise ModelError(
            f"model file not found: {path}. Install it with `rlm-desktop models install NAME` "
            "or give the path of an existing .gguf file."
        )
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF model file (it starts with {magic!r}, not {GGUF_MAGIC!r}). "
            "Download the model again or pick a .gguf file."
        )


@dataclass(frozen=True)
class ChatPrompt:
    """A rendered chat prompt: its tokens (exactly what the model evaluates) and text."""

    tokens: tuple[int, ...]
    text: str
    # token index just after each message's content (empty if the template hid them)
    message_ends: tuple[int, ...] = ()


class LoadedModel:
    """One GGUF file's weights, tokenizer and chat template, plus the lane lock."""

    def __init__(self, path: Path, *, n_gpu_layers: int = 0, repack: bool = True) -> None:
        """``repack=False`` keeps the weights in their file layout: llama.cpp's repacked CPU
        kernels compute one token (GEMV) and a group of tokens (GEMM) in a different order,
        so a sequence's logits would depend on how many sequences decode with it."""
        import llama_cpp
        import llama_cpp._internals as internals

        path = Path(path)
        check_gguf_file(path)
        _LLAMA_LOG.install()
        self.path = path
        self.lock = threading.RLock()
        params = llama_cpp.llama_model_default_params()
        offload = llama_cpp.llama_supports_gpu_offload()
        self.n_gpu_layers = 0 if not offload else (0x7FFFFFFF if n_gpu_layers < 0 else n_gpu_layers)
        params.n_gpu_layers = self.n_gpu_layers
        params.use_extra_bufts = repack
        _LLAMA_LOG.recent.clear()
        try:
            self._model = internals.LlamaModel(path_model=str(path), params=params, verbose=False)
        except ValueError as exc:
            detail = "; ".join(_LLAMA_LOG.recent) or str(exc)
            raise ModelError(
                f"could not load the model {path.name}: {detail}. The file may be truncated or "
                "corrupt: verify it (`rlm-desktop models verify NAME`) or download it again."
            ) from exc
        self._llama_cpp = llama_cpp
        self._internals = internals
        self.vocab = self._model.vocab
        self.n_ctx_train = self._model.n_ctx_train()
        self.n_layer = llama_cpp.llama_model_n_layer(self._model.model)
        self.description = self._model.desc()
        self.size_bytes = path.stat().st_size
        self.gpu_offload = bool(offload and self.n_gpu_layers > 0)
        metadata = self._model.metadata()
        self._bos = self._model.token_bos()
        self._add_bos = bool(self._model.add_bos_token()) and self._bos >= 0
        eos = self._model.token_eos()
        template = metadata.get("tokenizer.chat_template")
        if not template:
            log.warning("%s has no chat template in its metadata; using ChatML", path.name)
            template = CHATML_TEMPLATE
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._model.token_get_text(eos) if eos >= 0 else "",
            bos_token=self._model.token_get_text(self._bos) if self._bos >= 0 else "",
            add_generation_prompt=True,
        )
        self._pieces: dict[int, bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._closed = False

    # -- tokenizer -------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Tokens of ``text`` without BOS. ``special=False`` keeps a literal "<|im_end|>" in
        a document from becoming a control token."""
        if not text:
            return []
        # No lane lock: the vocabulary is read-only, so counting tokens never waits for a
        # generation running on another thread.
        return self._model.tokenize(text.encode("utf-8"), False, special)

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (control tokens render as nothing)."""
        cached = self._pieces.get(token)
        if cached is None:
            n = self._llama_cpp.llama_token_to_piece(self.vocab, token, self._piece_buffer, 256, 0, False)
            cached = self._piece_buffer.raw[: max(n, 0)]
            self._pieces[token] = cached
        return cached

    def is_eog(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # -- grammars ---------------------------------------------------------------------------

    def grammar_sampler(self, grammar: str):
        """llama.cpp's sampler for a GBNF ``grammar`` (start rule ``root``): it masks every
        token the grammar does not allow, and the end-of-generation token until the grammar
        is complete. The caller owns it (a sampler chain frees what is added to it)."""
        _LLAMA_LOG.recent.clear()
        # llama.cpp prints why a grammar does not parse to stderr, not to its log
        with _captured_stderr() as printed:
            sampler = self._llama_cpp.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            said = [line.strip() for line in printed if "error parsing grammar" in line] + list(_LLAMA_LOG.recent)
            raise ModelError(
                f"the grammar does not compile ({'; '.join(said) or 'no detail from llama.cpp'}): check its "
                "GBNF syntax, that every rule it names is defined and that it has a `root` rule"
            )
        return sampler

    def check_grammar(self, grammar: str) -> None:
        """Raise ``ModelError`` now if ``grammar`` does not compile, before any work starts."""
        self._llama_cpp.llama_sampler_free(self.grammar_sampler(grammar))

    # -- chat template ----------------------------------------------------------------------

    def render_chat(self, messages: Sequence[tuple[str, str]], prefix: str = "") -> ChatPrompt:
        """Render with the model's own template and tokenize: the template's text with
        special tokens, each message's content (and ``prefix``, appended after the generation
        prompt) as plain text. Rendering with markers in place of the contents tells where
        each content sits without re-implementing the template."""
        markers = [f"\x1e{i}\x1f" for i in range(len(messages))]
        rendered = self._render([(role, marker) for (role, _), marker in zip(messages, markers, strict=True)])
        parts = re.split("\x1e(\\d+)\x1f", rendered)
        found = [int(p) for p in parts[1::2]]
        tokens: list[int] = []
        ends: list[int] = []
        if found == list(range(len(messages))):
            for i, part in enumerate(parts):
                if i % 2 == 0:
                    tokens += self.tokenize(part, special=True)
                else:
                    tokens += self.tokenize(messages[int(part)][1], special=False)
                    ends.append(len(tokens))
            text = "".join(messages[int(p)][1] if i % 2 else p for i, p in enumerate(parts))
        else:  # a template that rewrites contents: tokenize the whole text (less safe)
            log.warning("chat template moved message contents; tokenizing the rendered prompt whole")
            text = self._render(list(messages))
            tokens = self.tokenize(text, special=True)
        tokens += self.tokenize(prefix, special=False)
        text += prefix
        if self._add_bos and (not tokens or tokens[0] != self._bos):
            tokens.insert(0, self._bos)
            ends = [e + 1 for e in ends]
        return ChatPrompt(tuple(tokens), text, tuple(ends))

    def _render(self, messages: Sequence[tuple[str, str]]) -> str:
        try:
            return self._formatter(messages=[{"role": r, "content": c} for r, c in messages]).prompt
        except Exception as exc:  # jinja errors, raise_exception() in the template
            raise ModelError(f"the chat template of {self.path.name} failed to render: {exc}") from exc

    # -- contexts ---------------------------------------------------------------------------

    def new_context(
        self, *, n_ctx: int, n_threads: int, n_seq_max: int = 1, n_batch: int = 512, n_ubatch: int | None = None
    ):
        """A fresh KV cache on these weights. ``n_seq_max > 1`` shares one unified cache of
        ``n_ctx`` cells among the sequences (batched decoding). ``n_ubatch`` (default
        ``n_batch``) is the most tokens one compute graph holds; below 64 llama.cpp's CPU
        flash attention never takes its tiled path (see docs/inference.md)."""
        llama_cpp = self._llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_ubatch or n_batch, n_batch)
        params.n_seq_max = n_seq_max
        # Logits are read only for each sequence's last token of a batch. The default
        # (n_batch outputs) reserves n_batch x n_vocab floats: ~300 MiB for Qwen2.5.
        params.n_outputs_max = n_seq_max
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        with self.lock:
            try:
                return self._internals.LlamaContext(model=self._model, params=params, verbose=False)
            except ValueError as exc:
                detail = "; ".join(_LLAMA_LOG.recent) or str(exc)
                raise ModelError(
                    f"could not create a {n_ctx}-token context for {self.path.name}: {detail}. "
                    "Try a smaller context size (n_ctx)."
                ) from exc

    def close(self) -> None:
        with self.lock:
            if not self._closed:
                self._closed = True
                self._model.close()
