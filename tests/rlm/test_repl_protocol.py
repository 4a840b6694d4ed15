"""The pipe protocol: anything malformed from the worker is an error, never acted on."""

from __future__ import annotations

import os
import struct

import pytest

from rlm_desktop.rlm.sandbox import wire
from rlm_desktop.rlm.sandbox.wire import FROM_WORKER, ProtocolError


def _done(**changes: object) -> dict[str, object]:
    message: dict[str, object] = {
        "type": "done", "cell_id": 1, "output": "", "error": None, "answer": None, "answer_ready": False,
        "sources": [{"path": "/a", "line": 3, "page": None, "how": "grep"}], "elapsed_s": 0.1,
        "variables": ["x"], "corpus_seen": False,
        "facts": [{"tool": "tally", "kind": "tally", "value": "", "matched": 3, "searched": 5, "rows": [["Ada", 2], ["Bo", 1]], "distinct": 2, "hits": [],
                   "lines": []}],
    }
    message.update(changes)
    return message


def test_a_valid_message_round_trips_through_a_pipe() -> None:
    r, w = os.pipe()
    try:
        wire.write_message(w, _done(output="héllo"), wire.MAX_FROM_WORKER)
        assert wire.read_message(r, FROM_WORKER, wire.MAX_FROM_WORKER)["output"] == "héllo"
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "exec", "code": "import os"},  # unknown type
        {"type": "cell", "code": "1", "cell_id": 1},  # a session->worker type, from the worker
        _done(cell_id="1"),
        _done(cell_id=True),
        _done(answer_ready="yes"),
        _done(extra=1),
        _done(variables=[1]),
        _done(sources=[{"path": "/a", "line": 1, "page": None, "how": "guess"}]),
        # a tool fact of an unknown kind, with a forged row, too many rows, or a bignum
        _done(facts=[{"tool": "shell", "kind": "tally", "value": "", "matched": 0, "searched": 0, "rows": [], "distinct": 0, "hits": [], "lines": []}]),
        _done(facts=[{"tool": "tally", "kind": "tally", "value": "", "matched": 0, "searched": 0, "rows": [["a", "b"]], "distinct": 0, "hits": [], "lines": []}]),
        _done(facts=[{"tool": "tally", "kind": "tally", "value": "", "matched": 0, "searched": 0, "rows": [["a", 1]] * 51, "distinct": 0, "hits": [], "lines": []}]),
        _done(facts=[{"tool": "figure", "kind": "total", "value": "1", "matched": 10**30, "searched": 0, "rows": [], "distinct": 0, "hits": [], "lines": []}]),
        _done(facts=[{"tool": "figure", "kind": "total", "value": "1"}]),
        _done(facts=[{"tool": "grep", "kind": "grep", "value": "", "matched": 1, "searched": 0, "rows": [], "distinct": 0,
                      "hits": [["a.py", 1, "f"]], "lines": []}]),
        # a passages fact whose line lacks its page, or has a negative line number
        _done(facts=[{"tool": "passages", "kind": "passages", "value": "", "matched": 1, "searched": 0, "rows": [], "distinct": 0,
                      "hits": [], "lines": [["a.txt", 3, "the line"]]}]),
        _done(facts=[{"tool": "passages", "kind": "passages", "value": "", "matched": 1, "searched": 0, "rows": [], "distinct": 0,
                      "hits": [], "lines": [["a.txt", -3, 0, "the line"]]}]),
        {"type": "llm", "kind": "shell", "prompts": ["x"], "context_text": None, "context_paths": [], "has_corpus_text": False},
        [1, 2],
    ],
)
def test_invalid_messages_are_rejected(message: object) -> None:
    with pytest.raises(ProtocolError):
        wire.validate(message, FROM_WORKER)


def test_oversized_and_garbage_frames_are_rejected() -> None:
    r, w = os.pipe()
    try:
        os.write(w, struct.pack(">I", wire.MAX_FROM_WORKER + 1))
        with pytest.raises(ProtocolError, match="too large"):
            wire.read_message(r, FROM_WORKER, wire.MAX_FROM_WORKER)
        os.write(w, struct.pack(">I", 5) + b"{not ")
        with pytest.raises(ProtocolError, match="not valid JSON"):
            wire.read_message(r, FROM_WORKER, wire.MAX_FROM_WORKER)
    finally:
        os.close(r)
        os.close(w)
