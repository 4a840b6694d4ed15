"""``rlm-desktop models list | install | verify | path | remove | add``: the terminal face
of ``llm/catalog.py`` and ``llm/install.py``. ``make test`` and ``make run`` call
``models install --if-missing`` every time, so that path must stay a stat and a small read."""

from __future__ import annotations

import argparse
from pathlib import Path

from rlm_desktop import paths
from rlm_desktop.cli.progress import StageProgress
from rlm_desktop.errors import ModelError
from rlm_desktop.llm import install as installer
from rlm_desktop.llm.catalog import (
    Catalog,
    ModelEntry,
    installed_path,
    load_catalog,
    load_local,
    resolve_model,
    unregister_local,
)
from rlm_desktop.llm.install import format_bytes


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list, install, verify and add GGUF models")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")

    p = actions.add_parser("list", help="the catalog and local models, installed or not, the device, and served models")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="also list the models this OpenAI-compatible server serves (repeatable)")
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("install", help="download, assemble and verify catalog models")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--if-missing", action="store_true", help="say nothing about models already installed")
    p.add_argument("--force", action="store_true", help="download again even if installed")
    p.set_defaults(func=cmd_install)

    p = actions.add_parser("verify", help="hash an installed model in full and compare with the catalog")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_verify)

    p = actions.add_parser("path", help="print the file a model name resolves to")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_path)

    p = actions.add_parser("remove", help="delete an installed catalog model, or forget a local one")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_remove)

    p = actions.add_parser("add", help="use a GGUF file you already have (it is not copied)")
    p.add_argument("file", type=Path, metavar="FILE.gguf")
    p.add_argument("--name", help="the name to use it by (default: the file name without .gguf)")
    p.set_defaults(func=cmd_add)

    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def _install_state(entry: ModelEntry) -> str:
    path = installed_path(entry)
    if path is None:
        return "no"
    if entry.size and path.stat().st_size != entry.size:
        return "damaged"
    return "yes"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def cmd_list(args: argparse.Namespace) -> int:
    from rlm_desktop.llm.device import describe_device  # imports llama_cpp: only here

    catalog = load_catalog()
    rows: list[tuple[str, ...]] = [("NAME", "INSTALLED", "SIZE", "ROLES", "SHA256", "PATH")]
    for entry in catalog:
        size = (
            format_bytes(entry.size)
            if entry.size
            else (f"~{format_bytes(entry.approx_size)}" if entry.approx_size else "?")
        )
        path = installed_path(entry)
        rows.append((
            entry.name,
            _install_state(entry),
            size,
            ",".join(entry.roles) or "-",
            "pinned" if entry.pinned else "NOT PINNED",
            str(path) if path else "-",
        ))  # fmt: skip
    for model in load_local().values():
        exists = model.path.is_file()
        rows.append((
            model.name,
            "local" if exists else "missing",
            format_bytes(model.path.stat().st_size) if exists else "?",
            "local",
            "-",
            str(model.path),
        ))  # fmt: skip
    print(_table(rows))
    print()
    print(f"Models dir: {paths.models_dir()}  (set RLM_DESKTOP_MODELS to change)")
    print(f"Device: {describe_device()}")
    return _list_served(getattr(args, "server", []))


def _list_served(urls: list[str]) -> int:
    """The models each server serves, and where a question would go; 1 when one fails."""
    from rlm_desktop.llm.server_backend import ServerBackend, ServerConfig, host_scope

    failed = 0
    for url in urls:
        backend = ServerBackend(ServerConfig(url=url, model=""))
        try:
            names = backend.list_models()
        except ModelError as exc:
            print(f"Served at {backend.host}: {exc}")
            failed += 1
            continue
        finally:
            backend.close()
        where = {"loopback": "this machine", "private": "a private network", "public": "the internet"}[host_scope(url)]
        print(f"Served at {backend.host} ({where}; questions and the text the model reads go there): "
              + (", ".join(names) or "no models listed"))
    return 1 if failed else 0


def _entries(catalog: Catalog, names: list[str]) -> list[ModelEntry]:
    """All entries, or the error for the first unknown name before any work starts."""
    return [catalog.get(name) for name in names]


def cmd_install(args: argparse.Namespace) -> int:
    for entry in _entries(load_catalog(), args.names):
        if not args.force and installer.is_installed(entry):
            if not args.if_missing:
                print(f"{entry.name}: already installed at {installed_path(entry)}")
            continue
        with StageProgress(entry.name) as bar:
            path = installer.install(entry, progress=bar, force=args.force)
        if bar.last is not None and bar.last.message == "already installed":
            if not args.if_missing:
                print(f"{entry.name}: already installed at {path} (checked: it matches the catalog)")
            continue
        if entry.pinned:
            print(f"{entry.name}: installed at {path} (size and sha256 match the catalog)")
        else:
            print(
                f"{entry.name}: installed at {path}. Its checksum is NOT PINNED in the catalog; "
                f"computed sha256 {installer.recorded_sha256(path)}"
            )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    local = load_local()
    for name in args.names:
        entry = catalog.find(name)
        if entry is None and name in local:
            path = resolve_model(name, catalog)
            if not installer.is_gguf(path):
                raise ModelError(f"local model {name}: {path} is not a GGUF file")
            with StageProgress(name) as bar:
                size, sha = installer.hash_file(path, progress=bar)
            print(
                f"{name}: GGUF, {format_bytes(size)}, sha256 {sha} (a local file: no catalog checksum to compare)"
            )
            continue
        entry = catalog.get(name)
        with StageProgress(name) as bar:
            sha = installer.verify(entry, progress=bar)
        if entry.pinned:
            print(f"{name}: OK, size and sha256 {sha} match the catalog")
        else:
            print(
                f"{name}: GGUF, sha256 {sha}; the catalog does NOT PIN a checksum for it, so nothing was compared"
            )
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    print(resolve_model(args.name))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    local = load_local()
    for name in args.names:
        entry = catalog.find(name)
        if entry is None and name in local:
            unregister_local(name)
            print(f"{name}: forgotten; the file {local[name].path} was left in place")
            continue
        removed = installer.remove(catalog.get(name))
        if removed:
            print(
                f"{name}: removed {removed[0] if len(removed) == 1 else ', '.join(str(p) for p in removed)}"
            )
        else:
            print(f"{name}: not installed, nothing to remove")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    model = installer.add_local(args.file, args.name)
    print(f"added {model.name}: {model.path}")
    print(
        f"Use {model.name!r} wherever a model name is asked for; `rlm-desktop models path {model.name}` prints the file."
    )
    return 0
