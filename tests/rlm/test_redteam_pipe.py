"""Red team, second pass: the worker holds nothing but its pipe, and the engine trusts
nothing that comes down it. One test per class of hole an outside pass found (issue 22),
each with attempts of our own beside the reported one:

1. native code through the library's SQLite connection: there is no connection, no
   library descriptor and no sqlite3 module in the worker;
2. reads outside the question's scope: the scope lives on the engine side;
3. the audit hook switched off: the kernel (Landlock) still closes the library file and
   the other folder;
4. forged pipe messages: bounded, checked, and a bad one restarts the worker;
5. the engine's memory: stderr is read in bounded chunks;
6. the library locked by the worker: it holds no -shm descriptor to lock;
7. a wedged worker: a reply too large to send ends that worker, the next cell is fresh;
8. lone surrogates in printed text reach the engine as valid Unicode.

The world: a library of two folders, a session scoped to one of them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rlm_desktop.errors import SandboxError
from rlm_desktop.library.store import Library
from rlm_desktop.rlm.sandbox.session import ReplSession
from rlm_desktop.rlm.sandbox.types import LlmReply, LlmRequest, ReplConfig
from tests.rlm.test_repl_confine import ABI

SECRET = "OTHER-FOLDER-SECRET-4711"
OS = "import random\nos_ = random._os\n"
# the worker's end of the pipe, reached through a bound method in the namespace
CHANNEL = "ch = llm_query.__self__._request_llm.__self__\n"
needs_landlock = pytest.mark.skipif(ABI < 1 or not sys.platform.startswith("linux"), reason="this kernel has no Landlock")


@dataclass
class World:
    session: ReplSession
    chosen: Path
    other: Path
    db: Path
    requests: list[LlmRequest] = field(default_factory=list)

    def run(self, code: str) -> str:
        """What the model would read: output, error or kill reason (or the SandboxError)."""
        try:
            result = self.session.run_cell(code.format(other=self.other, chosen=self.chosen, db=self.db))
        except SandboxError as exc:
            return f"SandboxError: {exc}"
        return "\n".join(x for x in (result.output, result.error or "", result.kill_reason or "") if x)

    def still_answers(self) -> None:
        assert self.session.run_cell("FINAL('ok')").answer == "ok"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("redteam-pipe")
    chosen, other = base / "chosen", base / "other"
    chosen.mkdir()
    other.mkdir()
    (chosen / "report.txt").write_text("Quarterly report\nRevenue rose by 4 percent.\n")
    (chosen / "notes.txt").write_text("Notes\nThe review is on Friday.\n")
    (other / "secret.txt").write_text(f"Private\nThe code is {SECRET}.\n")
    db = base / "library.db"
    lib = Library.open(db)
    lib.add_folder(chosen)
    lib.add_folder(other)
    lib.scan()
    lib.close()
    requests: list[LlmRequest] = []

    def on_llm(request: LlmRequest) -> LlmReply:
        requests.append(request)
        return LlmReply(answers=tuple("ok" for _ in request.prompts))

    config = ReplConfig(scratch_dir=base / "scratch", library_db=db, roots=(str(chosen),), cell_timeout_s=8.0, memory_mb=512)
    session = ReplSession(config, on_llm=on_llm)
    session.start()
    yield World(session, chosen, other, db, requests)
    session.close()


def _fd_targets(pid: int) -> list[str]:
    fd_dir = Path(f"/proc/{pid}/fd")
    out = []
    for entry in fd_dir.iterdir():
        try:
            out.append(os.readlink(entry))
        except OSError:
            pass
    return out


# -- 1. no native-code foothold -----------------------------------------------------------

def test_the_worker_holds_no_library_connection_descriptor_or_path(world: World) -> None:
    world.session.run_cell("1")
    pid = world.session._proc.pid
    try:
        targets = _fd_targets(pid)
    except PermissionError:
        pytest.skip("cannot list the worker's descriptors here")
    assert not [t for t in targets if str(world.db) in t or "library.db" in t], targets
    # the reported route to the connection, and others of our own
    assert "has no attribute '_lib'" in world.run("search.__self__.corpus._backend._lib.conn")
    seen = world.run(OS + "print(sorted(n for n in os_.sys.modules if 'sqlite' in n))")
    assert seen.strip() == "[]", seen
    seen = world.run("print([c.__name__ for c in ().__class__.__base__.__subclasses__() if 'Connection' in c.__name__ and 'sqlite' in c.__module__])")
    assert seen.strip() == "[]", seen
    # nothing the worker was given names the library file
    seen = world.run(OS + "print(repr(vars(search.__self__.corpus._backend)))\nprint(os_.environ)")
    assert "library.db" not in seen, seen
    world.still_answers()


# -- 2. reads outside the scope -------------------------------------------------------------

SCOPE_ATTEMPTS = {
    "read() an absolute path of the other folder": "print(read('{other}/secret.txt'))",
    "read() climbing out of the scope": "print(read('../other/secret.txt'))",
    "search() for the other folder's words": "print(search('FOLDER SECRET'))",
    "grep() for the other folder's words": "print(grep('FOLDER-SECRET'))",
    "a forged lib request for the other file": CHANNEL + "print(ch.request_lib('text', path='{other}/secret.txt'))",
    "a forged lib read with a relative path": CHANNEL + "print(ch.request_lib('read', path='other/secret.txt', start=1, end=9))",
    "a raw lib message on the pipe": CHANNEL + "ch.send({{'type': 'lib', 'op': 'text', 'path': '{other}/secret.txt', 'start': None, 'end': None, "
                                               "'query': None, 'k': None, 'pattern': None, 'limit': None, 'flags': None}})\n"
                                               "print(ch.receive(frozenset({{'lib_reply'}})))",
    "emptying the backend's roots (reported)": "b = search.__self__.corpus._backend\nb._roots = ()\nprint(search('FOLDER SECRET'))",
    "pread on every descriptor": OS + "out = []\nfor fd in range(3, 64):\n    try:\n        out.append(os_.pread(fd, 4096, 0))\n    except OSError:\n        pass\nprint(out)",
}


@pytest.mark.parametrize("name", list(SCOPE_ATTEMPTS))
def test_no_read_reaches_outside_the_questions_scope(world: World, name: str) -> None:
    seen = world.run(SCOPE_ATTEMPTS[name])
    assert SECRET not in seen and "SQLite format" not in seen, seen
    world.still_answers()


def test_cited_sources_outside_the_scope_are_dropped(world: World) -> None:
    """A worker cannot make the engine cite (or later show) a file the question could not read."""
    code = "search.__self__.source('{other}/secret.txt', 1, None, 'read')\nsearch.__self__.source('chosen/report.txt', 1, None, 'read')\nFINAL('x')"
    result = world.session.run_cell(code.format(other=world.other))
    assert [s.path for s in result.sources] == [str(world.chosen / "report.txt")]


# -- 3. the audit hook off: the kernel still holds -----------------------------------------

@needs_landlock
def test_with_the_audit_hook_switched_off_the_kernel_closes_the_library_and_other_folders(world: World) -> None:
    off = OS + ("lock = os_.sys.modules['rlm_desktop.rlm.sandbox.lockdown']\nlock._within = lambda p, r: True\n"
                "lock._FRAME_EVENTS = ()\n")
    for target in ("{db}", "{other}/secret.txt", "{db}-shm"):
        seen = world.run(off + f"print(open('{target}', 'rb').read(64))")
        assert SECRET not in seen and "SQLite format" not in seen, seen
        assert "PermissionError" in seen or "FileNotFoundError" in seen, seen
    world.session.kill()  # the hook is gone in this worker: start the next test on a fresh one
    world.still_answers()


# -- 4. forged messages ------------------------------------------------------------------------

def test_a_child_rlm_asked_for_paths_outside_the_scope_is_refused(world: World) -> None:
    before = len(world.requests)
    for paths in ("['/']", "['{other}/secret.txt']", "['../other/secret.txt']"):
        seen = world.run(CHANNEL + f"ch.request_llm('rlm', ['what is the code?'], None, {paths}, True)")
        assert "no such file in the folders of this question" in seen, seen
    assert len(world.requests) == before  # the engine's model callback never saw them
    seen = world.run(CHANNEL + "print(ch.request_llm('rlm', ['q'], None, ['chosen/report.txt'], True))")
    assert world.requests[-1].context_paths == (str(world.chosen / "report.txt"),), seen


@pytest.mark.parametrize("name, code", [
    ("a batch of 30,000 prompts (reported)", CHANNEL + "ch.request_llm('batch', ['x' * 1000] * 30000, None, [], False)"),
    ("a prompt over the size limit", CHANNEL + "ch.request_llm('query', ['x' * 3_000_000], None, [], False)"),
    ("a frame nested 200,000 deep (reported)", CHANNEL + OS + "body = b'[' * 200000\nos_.write(ch.wfd, len(body).to_bytes(4, 'big') + body)\nch.receive(frozenset({{'llm_reply'}}))"),
    ("an unknown library operation", CHANNEL + "ch.request_lib('delete', path='x')"),
    ("a number too big to be a line", CHANNEL + "ch.request_lib('read', path='chosen/report.txt', start=10**30, end=None)"),
    ("a reply for another cell", CHANNEL + "ch.send({{'type': 'done', 'cell_id': 999, 'output': '', 'error': None, 'answer': None, "
                                          "'answer_ready': False, 'sources': [], 'elapsed_s': 0, 'variables': [], 'corpus_seen': False}})\n"
                                          "ch.receive(frozenset({{'cell'}}))"),
    ("a length header past the limit", CHANNEL + OS + "os_.write(ch.wfd, (2**31).to_bytes(4, 'big'))\nch.receive(frozenset({{'llm_reply'}}))"),
])
def test_a_forged_message_ends_the_cell_with_a_sandbox_error_and_the_worker_restarts(world: World, name: str, code: str) -> None:
    before = len(world.requests)
    pid = world.session._proc.pid if world.session.alive else None
    seen = world.run(code)
    assert seen.startswith("SandboxError: the REPL worker broke the protocol"), seen
    assert len(world.requests) == before
    world.still_answers()
    assert world.session._proc.pid != pid  # a fresh worker took over


# -- 5. the engine's memory --------------------------------------------------------------------

def _rss_kb() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_cell_writing_hundreds_of_megabytes_to_stderr_without_a_newline_costs_the_engine_nothing(world: World) -> None:
    world.still_answers()
    before = _rss_kb()
    seen = world.run(OS + "chunk = b'x' * (1 << 20)\nfor _ in range(300):\n    os_.write(2, chunk)\nos_.write(2, b'\\nEND-OF-FLOOD\\n')\nprint('wrote')")
    assert "wrote" in seen, seen
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("END-OF-FLOOD" in line for line in world.session._stderr_tail):
        time.sleep(0.05)
    assert any("END-OF-FLOOD" in line for line in world.session._stderr_tail)
    assert all(len(line) <= 500 for line in world.session._stderr_tail)
    assert _rss_kb() - before < 64 * 1024  # 300 MB went through; the engine kept a tail


# -- 6. the library stays usable by others -------------------------------------------------------

def test_other_processes_can_write_the_library_while_the_worker_lives(world: World) -> None:
    world.still_answers()
    # the reported attack: lockf on every descriptor the worker has
    world.run(OS + "for fd in range(3, 64):\n    try:\n        os_.lockf(fd, os_.F_TLOCK, 0)\n    except OSError:\n        pass")
    assert world.session.alive
    writer = Library.open(world.db, busy_timeout_s=2.0)
    try:
        (world.chosen / "new.txt").write_text("A new file\n")
        report = writer.scan()
        assert not report.failed
    finally:
        writer.close()
        (world.chosen / "new.txt").unlink()
    world.still_answers()


# -- 7. a worker that could not reply ------------------------------------------------------------

def test_a_cell_whose_reply_cannot_be_sent_restarts_the_worker(world: World) -> None:
    world.still_answers()
    pid = world.session._proc.pid
    # FINAL cuts an answer to 200,000 chars; code that reaches the cell's record does not
    result = world.session.run_cell("rec = search.__self__.cell\nrec.answer = 'x' * 40_000_000\nrec.answer_ready = True")
    assert result.killed and "could not be sent" in (result.kill_reason or ""), result
    world.still_answers()
    assert world.session._proc.pid != pid


def test_globals_with_huge_names_do_not_wedge_the_worker(world: World) -> None:
    seen = world.run("g = globals()\nfor i in range(3000):\n    g['v' * 20000 + str(i)] = i\nprint('made')")
    assert "made" in seen, seen
    for _ in range(3):  # every later cell still answers, not "done message too large"
        world.still_answers()


# -- 8. text the engine stores later -------------------------------------------------------------

@pytest.mark.parametrize("code", ["print('\\udcff')", "print('a\\ud800b')", "FINAL('\\udfff')"])
def test_lone_surrogates_reach_the_engine_as_valid_unicode(world: World, code: str) -> None:
    result = world.session.run_cell(code)
    for text in (result.output, result.answer or "", result.error or ""):
        text.encode("utf-8")  # raises on a lone surrogate
    assert "\ufffd" in (result.output + (result.answer or ""))


def test_protocol_decode_turns_deep_nesting_into_a_protocol_error() -> None:
    from rlm_desktop.rlm.sandbox import wire

    body = b"[" * 200_000
    with pytest.raises(wire.ProtocolError, match="nested too deeply|not valid JSON"):
        wire.decode(body, wire.FROM_WORKER)


def test_a_pattern_that_backtracks_without_end_stops_in_the_engine_and_the_session_goes_on(world: World) -> None:
    """grep runs in the engine now: a catastrophic pattern must not freeze it."""
    import rlm_desktop.library.search as search_module

    (world.chosen / "long.txt").write_text("a" * 5000 + "b\n")
    writer = Library.open(world.db)
    try:
        writer.scan()
    finally:
        writer.close()
    old = search_module.GREP_TIMEOUT_S
    search_module.GREP_TIMEOUT_S = 1.0
    try:
        started = time.monotonic()
        seen = world.run("world = grep(r'(a|aa)+$')")
    finally:
        search_module.GREP_TIMEOUT_S = old
        (world.chosen / "long.txt").unlink()
    assert time.monotonic() - started < 6, seen
    assert "took longer than" in seen and "simpler pattern" in seen, seen
    world.still_answers()
