"""The real-folder yardstick: its specs, its installer (against a real HTTP server on
loopback serving archives built here) and, when the registry is reachable, one real corpus
whose hand-written answers are checked against the text the app extracts."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from collections import Counter
from pathlib import Path

import pytest

from rlm_desktop.bench.real import check_quotes, load_specs, real_tasks
from rlm_desktop.bench.real.fetch import CorpusUnavailable, Source, install
from rlm_desktop.bench.real.specs import SpecError, load_spec

DOC_SHAPES = {"html", "man", "pdf"}
CODE_SHAPES = {"python", "javascript"}


# --- the specs -------------------------------------------------------------------------


def test_every_spec_loads_and_has_enough_hand_written_questions() -> None:
    specs = load_specs()
    docs = [s for s in specs if s.shape in DOC_SHAPES]
    code = [s for s in specs if s.shape in CODE_SHAPES]
    assert len(docs) >= 4 and len({s.shape for s in docs}) >= 3
    assert len(code) >= 3 and any(s.shape != "python" for s in code)
    for spec in specs:
        assert len(spec.questions) >= 15, spec.id
        numbers = sum(q.type == "number" for q in spec.questions)
        assert numbers <= len(spec.questions) / 3, f"{spec.id}: {numbers} number answers"
        assert {"lookup", "absent"} <= {q.family for q in spec.questions}, spec.id
        for q in spec.questions:
            assert q.id.startswith(spec.id), q.id
            if q.type != "absent":
                assert q.file and (q.line is not None or q.page is not None), f"{q.id} says where its answer stands"


def test_parts_keep_their_corpora_apart() -> None:
    specs = load_specs()
    by_part = {part: {s.id for s in specs if s.part == part} for part in ("dev", "held-out")}
    assert by_part["dev"] and by_part["held-out"] and not by_part["dev"] & by_part["held-out"]
    for part in by_part:
        shapes = {s.shape for s in specs if s.part == part}
        assert shapes & DOC_SHAPES and shapes & CODE_SHAPES, f"{part} has documents and code"
    # the same package is never in both parts under two names
    names = Counter(s.source.name for s in specs)
    assert max(names.values()) == 1


def test_a_bad_spec_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text('id = "x"\npart = "dev"\nshape = "html"\ntitle = "t"\n'
                   '[source]\nkind = "deb"\nname = "n"\nversion = "1"\nurl = "http://h/x.deb"\nsha256 = "abc"\n'
                   '[[questions]]\nid = "x-1"\nfamily = "lookup"\nquestion = "q?"\ntype = "text"\nanswer = "a"\nfile = "f"\n')
    with pytest.raises(SpecError, match="sha256"):
        load_spec(bad)


# --- the installer, against a real server ------------------------------------------------


class _Server:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hits: Counter[str] = Counter()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.hits[self.path] += 1
                body = outer.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    made: list[_Server] = []

    def start(files: dict[str, bytes]) -> _Server:
        made.append(_Server(files))
        return made[-1]

    yield start
    for s in made:
        s.close()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def _deb(data_tar: bytes) -> bytes:
    """A Debian package: an ar archive of debian-binary, control and data members."""
    def member(name: str, body: bytes) -> bytes:
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        return head + body + (b"\n" if len(body) % 2 else b"")

    return b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("control.tar.gz", _tar({"control": b"x"})) + member("data.tar.gz", data_tar)


def _source(kind: str, url: str, data: bytes, **kw) -> Source:
    return Source(kind=kind, name="demo", version="1.0", url=url, sha256=hashlib.sha256(data).hexdigest(), **kw)


def test_a_deb_is_unpacked_below_its_root_with_patterns_and_gunzip(server, tmp_path: Path) -> None:
    data = _tar({
        "./usr/share/man/man1/demo.1.gz": gzip.compress(b".TH DEMO 1\nThe default is 42.\n"),
        "./usr/share/man/man1/skip.png": b"\x89PNG",
        "./usr/share/doc/demo/README": b"outside the root",
        "./usr/share/man/../../../../etc/evil": b"climbs out",
    }, links={"./usr/share/man/man1/link.1": "/etc/passwd"})
    deb = _deb(data)
    srv = server({"demo.deb": deb})
    src = _source("deb", srv.url("demo.deb"), deb, root="usr/share/man", exclude=("*.png",), gunzip=True)
    got = install("demo", src, base=tmp_path)
    files = sorted(p.relative_to(got.folder).as_posix() for p in got.folder.rglob("*") if p.is_file())
    assert files == ["man1/demo.1"]  # no image, nothing outside the root, no link, no climb
    assert (got.folder / "man1/demo.1").read_text() == ".TH DEMO 1\nThe default is 42.\n"
    # installed once: the second call reads the manifest and downloads nothing
    again = install("demo", src, base=tmp_path)
    assert again.folder == got.folder and srv.hits["/demo.deb"] == 1


def test_a_checksum_mismatch_unpacks_nothing(server, tmp_path: Path) -> None:
    tgz = _tar({"package/index.js": b"module.exports = 1\n"})
    srv = server({"demo.tgz": tgz})
    src = Source(kind="npm", name="demo", version="1.0", url=srv.url("demo.tgz"), sha256="0" * 64, root="package")
    with pytest.raises(CorpusUnavailable, match="does not match the pinned"):
        install("demo", src, base=tmp_path)
    assert not (tmp_path / "demo" / "files").exists()


def test_offline_or_gone_is_a_clear_error_and_the_corpus_is_reported_missing(server, tmp_path: Path) -> None:
    srv = server({})
    src = Source(kind="pypi", name="demo", version="1.0", url=srv.url("gone.tar.gz"), sha256="a" * 64, root="demo-1.0")
    with pytest.raises(CorpusUnavailable, match="cannot download demo 1.0"):
        install("demo", src, base=tmp_path)
    spec = next(s for s in load_specs() if s.part == "dev")
    from dataclasses import replace

    offline = replace(spec, source=src)
    tasks, missing = real_tasks("dev", base=tmp_path, specs=[offline])
    assert tasks == [] and missing and missing[0].startswith(f"{spec.id}: cannot download")


# --- one real corpus, from the registry ----------------------------------------------------


@pytest.mark.slow
def test_a_real_corpus_installs_and_its_answers_stand_in_the_extracted_text(tmp_path: Path) -> None:
    """commander from npm (the smallest corpus): every quote of its hand-written answers
    is in the text the library extracts, on the file the question names."""
    spec = next(s for s in load_specs() if s.id == "commander-src")
    try:
        got = install(spec.id, spec.source, base=tmp_path)
    except CorpusUnavailable as exc:
        pytest.skip(f"registry unreachable, the real corpus was not checked: {exc}")
    assert got.files >= 10
    assert check_quotes(spec, got.folder) == []
    tasks, missing = real_tasks("dev", base=tmp_path, specs=[spec])
    assert not missing and len(tasks) == len(spec.questions)
    assert all(t.corpus.source == got.folder and t.part == "dev" for t in tasks)
