"""The wire protocol between the session (engine side) and the sandboxed worker.

Each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON: an
object with a ``type`` field. Both sides check every message against a schema before
acting on it; an unknown type, a missing or mistyped field, or a length over the limit
is a ``ProtocolError``. Nothing received is ever evaluated: code travels only from the
session to the worker, as a string field.

session -> worker:  init, cell, llm_reply, lib_reply
worker -> session:  ready, llm, lib, done, fatal

The worker is untrusted: what it sends is also bounded in count and length per field
(``_LIMITS``), nesting cannot crash the reader (``RecursionError`` is a protocol error),
and strings come out of ``decode`` as valid Unicode (a lone surrogate a cell printed
becomes U+FFFD instead of breaking whatever stores the text later).
"""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Any

from rlm_desktop.errors import SandboxError

# What the worker may send is untrusted: keep it bounded so a hostile cell cannot make
# the engine allocate without limit. The session side may send a large pasted text.
MAX_FROM_WORKER = 32 * 1024 * 1024
MAX_TO_WORKER = 512 * 1024 * 1024

_HEADER = struct.Struct(">I")


class ProtocolError(SandboxError):
    """A message was malformed, oversized or of an unknown type."""


class ChannelClosed(SandboxError):
    """The other end closed the pipe (the process died or was killed)."""


_STR = str
_OPT_STR = (str, type(None))
_INT = int
_OPT_INT = (int, type(None))
_FLOAT = (int, float)
_BOOL = bool

# field name -> accepted type(s); ``list[str]``-like fields are checked by _LIST_OF.
_SCHEMAS: dict[str, dict[str, Any]] = {
    # session -> worker
    "init": {
        "scratch_dir": _STR,
        "corpus": _STR,  # "library" (read over the pipe), "text" (context_text) or "none"
        "context_text": _OPT_STR,
        "memory_mb": _INT,
        "cpu_s": _INT,
        "output_chars": _INT,
        "echo": _BOOL,
        "totals": _BOOL,
        "check_values": _BOOL,
        "allowed_imports": list,
    },
    "cell": {"code": _STR, "cell_id": _INT},
    "llm_reply": {"answers": list, "error": _OPT_STR},
    "lib_reply": {"result": object, "error": _OPT_STR, "error_kind": _OPT_STR},
    # worker -> session
    "ready": {"summary": _STR, "confinement": _STR},
    "llm": {
        "kind": _STR,
        "prompts": list,
        "context_text": _OPT_STR,
        "context_paths": list,
        "has_corpus_text": _BOOL,
    },
    "lib": {
        "op": _STR,
        "path": _OPT_STR,
        "start": _OPT_INT,
        "end": _OPT_INT,
        "query": _OPT_STR,
        "k": _OPT_INT,
        "pattern": _OPT_STR,
        "limit": _OPT_INT,
        "flags": _OPT_INT,
    },
    "done": {
        "cell_id": _INT,
        "output": _STR,
        "error": _OPT_STR,
        "answer": _OPT_STR,
        "answer_ready": _BOOL,
        "sources": list,
        "elapsed_s": _FLOAT,
        "variables": list,
        "corpus_seen": _BOOL,
        "facts": list,
    },
    "fatal": {"error": _STR},
}

_LIST_OF: dict[tuple[str, str], Any] = {
    ("init", "allowed_imports"): str,
    ("llm_reply", "answers"): str,
    ("llm", "prompts"): str,
    ("llm", "context_paths"): str,
    ("done", "variables"): str,
    ("done", "sources"): dict,
    ("done", "facts"): dict,
}

_SOURCE_FIELDS = {"path": _STR, "line": _OPT_INT, "page": _OPT_INT, "how": _STR}
SOURCE_HOWS = ("search", "grep", "read", "context")
_FACT_FIELDS = {"tool": _STR, "kind": _STR, "value": _STR, "matched": _INT, "searched": _INT, "rows": list, "distinct": _INT,
                "hits": list, "lines": list}
_FACT_KINDS = {"tally": ("tally",), "figure": ("total", "max", "min", "above", "below"), "grep": ("grep",),
               "passages": ("passages",)}
_FACT_ROWS = 50
_FACT_CHARS = 500
_FACT_LINES = 400  # a passages fact's lines
_FACT_LINE_CHARS = 1_000
LLM_KINDS = ("query", "batch", "rlm", "record")  # record: a batch whose replies the engine forces to tools.extract.RECORD_SCHEMA
LIB_OPS = ("files", "text", "read", "search", "grep")
LIB_FIELDS = tuple(name for name in _SCHEMAS["lib"] if name != "op")  # a lib request's arguments
CORPUS_KINDS = ("library", "text", "none")

TO_WORKER = frozenset({"init", "cell", "llm_reply", "lib_reply"})
FROM_WORKER = frozenset({"ready", "llm", "lib", "done", "fatal"})

# Bounds on what the worker may send, per field: (most items of a list, most chars of a
# string or of each string item). A forged batch of 30,000 prompts or a 40 MB list of
# variable names is a protocol error, not work for the engine.
_LIMITS: dict[tuple[str, str], tuple[int, int]] = {
    ("ready", "summary"): (0, 10_000),
    ("ready", "confinement"): (0, 10_000),
    ("llm", "kind"): (0, 16),
    ("llm", "prompts"): (1024, 2_000_000),
    ("llm", "context_text"): (0, 16_000_000),
    ("llm", "context_paths"): (10_000, 4096),
    ("lib", "op"): (0, 16),
    ("lib", "path"): (0, 4096),
    ("lib", "query"): (0, 10_000),
    ("lib", "pattern"): (0, 10_000),
    ("done", "output"): (0, 2_000_000),
    ("done", "error"): (0, 200_000),
    ("done", "answer"): (0, 2_000_000),
    ("done", "sources"): (10_000, 0),
    ("done", "variables"): (2_000, 200),
    ("done", "facts"): (200, 0),
    ("fatal", "error"): (0, 10_000),
}
_INT_RANGE = (-(2**62), 2**62)  # line numbers, k, limits: never a bignum to allocate
_SURROGATE = re.compile("[\ud800-\udfff]")


def validate(message: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """Check ``message`` against its schema; return it or raise ProtocolError."""
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    kind = message.get("type")
    if kind not in allowed:
        raise ProtocolError(f"unexpected message type {kind!r}")
    schema = _SCHEMAS[kind]
    extra = set(message) - set(schema) - {"type"}
    if extra:
        raise ProtocolError(f"{kind}: unknown fields {sorted(extra)}")
    for name, types in schema.items():
        if name not in message:
            raise ProtocolError(f"{kind}: missing field {name!r}")
        value = message[name]
        # bool is an int subclass: an int field must not accept True/False and vice versa
        if types is _INT and isinstance(value, bool):
            raise ProtocolError(f"{kind}.{name}: expected int")
        if not isinstance(value, types):
            raise ProtocolError(f"{kind}.{name}: expected {types}, got {type(value).__name__}")
        item_type = _LIST_OF.get((kind, name))
        if item_type is not None and not all(isinstance(v, item_type) for v in value):
            raise ProtocolError(f"{kind}.{name}: items must be {item_type.__name__}")
    if kind in FROM_WORKER:
        _check_limits(kind, message)
    if kind == "llm" and message["kind"] not in LLM_KINDS:
        raise ProtocolError(f"llm.kind must be one of {LLM_KINDS}")
    if kind == "lib" and message["op"] not in LIB_OPS:
        raise ProtocolError(f"lib.op must be one of {LIB_OPS}")
    if kind == "init" and message["corpus"] not in CORPUS_KINDS:
        raise ProtocolError(f"init.corpus must be one of {CORPUS_KINDS}")
    if kind == "done":
        for src in message["sources"]:
            if set(src) != set(_SOURCE_FIELDS):
                raise ProtocolError("done.sources: wrong fields")
            for name, types in _SOURCE_FIELDS.items():
                if not isinstance(src[name], types) or isinstance(src[name], bool):
                    raise ProtocolError(f"done.sources.{name}: wrong type")
            if src["how"] not in SOURCE_HOWS:
                raise ProtocolError("done.sources.how: unknown value")
        for fact in message["facts"]:
            _check_fact(fact)
    return message


def _check_fact(fact: dict[str, Any]) -> None:
    """One of a cell's tool facts: known fields and kinds, short strings, bounded rows."""
    if set(fact) != set(_FACT_FIELDS):
        raise ProtocolError("done.facts: wrong fields")
    for name, types in _FACT_FIELDS.items():
        if not isinstance(fact[name], types) or isinstance(fact[name], bool):
            raise ProtocolError(f"done.facts.{name}: wrong type")
        if isinstance(fact[name], int) and not _INT_RANGE[0] <= fact[name] <= _INT_RANGE[1]:
            raise ProtocolError(f"done.facts.{name}: number out of range")
    if fact["kind"] not in _FACT_KINDS.get(fact["tool"], ()):
        raise ProtocolError("done.facts: unknown tool or kind")
    if (len(fact["value"]) > _FACT_CHARS or len(fact["rows"]) > _FACT_ROWS or len(fact["hits"]) > _FACT_ROWS
            or len(fact["lines"]) > _FACT_LINES):
        raise ProtocolError("done.facts: value, rows, hits or lines too long")
    for hit in fact["hits"]:
        if not (isinstance(hit, list) and len(hit) == 4 and isinstance(hit[0], str) and len(hit[0]) <= 4096
                and isinstance(hit[1], int) and not isinstance(hit[1], bool) and 0 <= hit[1] <= _INT_RANGE[1]
                and isinstance(hit[2], str) and len(hit[2]) <= _FACT_CHARS and isinstance(hit[3], str) and len(hit[3]) <= _FACT_CHARS):
            raise ProtocolError("done.facts.hits: each hit is [path, line, scope, text]")
    for line in fact["lines"]:
        if not (isinstance(line, list) and len(line) == 4 and isinstance(line[0], str) and len(line[0]) <= 4096
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= _INT_RANGE[1] for n in line[1:3])
                and isinstance(line[3], str) and len(line[3]) <= _FACT_LINE_CHARS):
            raise ProtocolError("done.facts.lines: each line is [path, line, page, text]")
    for row in fact["rows"]:
        if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str) and len(row[0]) <= _FACT_CHARS
                and isinstance(row[1], int) and not isinstance(row[1], bool) and 0 <= row[1] <= _INT_RANGE[1]):
            raise ProtocolError("done.facts.rows: each row is [value, files]")


def _check_limits(kind: str, message: dict[str, Any]) -> None:
    for name, value in message.items():
        if isinstance(value, int) and not isinstance(value, bool) and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise ProtocolError(f"{kind}.{name}: number out of range")
        bound = _LIMITS.get((kind, name))
        if bound is None:
            continue
        items, chars = bound
        if isinstance(value, str):
            if len(value) > chars:
                raise ProtocolError(f"{kind}.{name}: {len(value)} chars, limit {chars}")
        elif isinstance(value, list):
            if len(value) > items:
                raise ProtocolError(f"{kind}.{name}: {len(value)} items, limit {items}")
            if chars and any(isinstance(v, str) and len(v) > chars for v in value):
                raise ProtocolError(f"{kind}.{name}: an item over {chars} chars")


def _scrub(value: Any) -> Any:
    """Strings as valid Unicode: lone surrogates (``print('\\udcff')``) become U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def encode(message: dict[str, Any], limit: int) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    if len(body) > limit:
        raise ProtocolError(f"{message.get('type')} message too large ({len(body)} bytes, limit {limit})")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    untrusted = not (allowed <= TO_WORKER)
    try:
        message = json.loads(body.decode("utf-8", "replace" if untrusted else "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("message is nested too deeply") from None
    message = validate(message, allowed)
    return _scrub(message) if untrusted else message


def write_message(fd: int, message: dict[str, Any], limit: int) -> None:
    data = memoryview(encode(message, limit))
    while data:
        try:
            sent = os.write(fd, data)
        except (BrokenPipeError, OSError) as exc:
            raise ChannelClosed(f"pipe closed: {exc}") from None
        data = data[sent:]


def read_exact(fd: int, size: int) -> bytes:
    """Blocking read of exactly ``size`` bytes; ChannelClosed on EOF."""
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = os.read(fd, min(size - len(chunks), 1 << 20))
        except OSError as exc:
            raise ChannelClosed(f"pipe closed: {exc}") from None
        if not chunk:
            raise ChannelClosed("pipe closed")
        chunks += chunk
    return bytes(chunks)


def read_header(fd: int, limit: int) -> int:
    (size,) = _HEADER.unpack(read_exact(fd, _HEADER.size))
    if size > limit:
        raise ProtocolError(f"message too large ({size} bytes, limit {limit})")
    return size


def read_message(fd: int, allowed: frozenset[str], limit: int) -> dict[str, Any]:
    size = read_header(fd, limit)
    return decode(read_exact(fd, size), allowed)
