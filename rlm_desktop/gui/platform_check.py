"""Whether Qt's X11 platform plugin (xcb) can load here, checked before Qt tries.

PySide6's wheel bundles Qt but not the X11 libraries its ``libqxcb.so`` links to. When one
is missing, Qt prints "Could not load the Qt platform plugin "xcb"" and aborts, naming
none of them. This module loads those libraries with ctypes first (the dynamic loader's
own search, so ``LD_LIBRARY_PATH`` and a PyInstaller bundle's folder count), and when
some are missing says which and the one command that installs them. It imports no Qt,
so the CLI (``rlm-desktop gui``, ``selftest``) can run it before deciding to start the
window at all.

``RLM_DESKTOP_XCB_LIBS`` replaces the list, for tests and to try the message:
comma-separated ``SONAME[:DEBIAN_PACKAGE[:FEDORA_PACKAGE]]`` entries, e.g.
``RLM_DESKTOP_XCB_LIBS=libxcb-nothere.so.9:libxcb-nothere9:xcb-util-nothere``; a soname
from the list below keeps its package names."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

LIBS_ENV = "RLM_DESKTOP_XCB_LIBS"


@dataclass(frozen=True)
class SystemLibrary:
    soname: str
    debian: str  # the Debian/Ubuntu package that ships it
    fedora: str


# What PySide6 6.x's plugins/platforms/libqxcb.so, lib/libQt6XcbQpa.so.6 and the
# libQt6Gui/libQt6DBus they load list as DT_NEEDED (`readelf -d`), less the libraries the
# wheel bundles (Qt, ICU) and the C/C++ runtime Python itself needs.
XCB_LIBRARIES: tuple[SystemLibrary, ...] = (
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLibrary("libX11.so.6", "libx11-6", "libX11"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLibrary("libGL.so.1", "libgl1", "libglvnd-glx"),
    SystemLibrary("libEGL.so.1", "libegl1", "libglvnd-egl"),
    SystemLibrary("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    SystemLibrary("libfreetype.so.6", "libfreetype6", "freetype"),
    SystemLibrary("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
    SystemLibrary("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    SystemLibrary("libgthread-2.0.so.0", "libglib2.0-0", "glib2"),
)

def libraries_from_env(value: str) -> tuple[SystemLibrary, ...]:
    known = {lib.soname: lib for lib in XCB_LIBRARIES}
    libraries = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        soname, _, packages = entry.partition(":")
        debian, _, fedora = packages.partition(":")
        base = known.get(soname, SystemLibrary(soname, "", ""))
        libraries.append(SystemLibrary(soname, debian or base.debian, fedora or base.fedora))
    return tuple(libraries)


def loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def platform_choice(environ: Mapping[str, str], platform: str) -> tuple[bool, str]:
    """Whether Qt will use the xcb plugin here, and why (in words for the user). It will not
    off Linux, where another platform is chosen, in a Wayland session (Qt's choice) or
    with no X display."""
    if not platform.startswith("linux"):
        return False, f"not Linux ({platform})"
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        first = chosen.split(";")[0].split(":")[0]  # "wayland;xcb" tries wayland first
        return first == "xcb", f"QT_QPA_PLATFORM={chosen}"
    if environ.get("WAYLAND_DISPLAY"):
        return False, f"Wayland session (WAYLAND_DISPLAY={environ['WAYLAND_DISPLAY']}); Qt chooses the platform"
    display = environ.get("DISPLAY")
    return (True, f"X display {display}") if display else (False, "no X display")


@dataclass(frozen=True)
class PlatformCheck:
    uses_xcb: bool  # whether Qt will load the xcb plugin here
    why: str
    checked: tuple[SystemLibrary, ...]
    missing: tuple[SystemLibrary, ...]

    @property
    def ok(self) -> bool:
        """False only when Qt would use xcb here and could not load it."""
        return not (self.uses_xcb and self.missing)

    def install_commands(self) -> list[str]:
        commands = []
        for label, tool, field in (("Debian/Ubuntu", "apt-get", "debian"), ("Fedora", "dnf", "fedora")):
            packages = dict.fromkeys(getattr(lib, field) for lib in self.missing if getattr(lib, field))
            if packages:
                commands.append(f"{label}: sudo {tool} install {' '.join(packages)}")
        return commands

    def message(self) -> str:
        """What to tell the user when the window cannot open here."""
        lines = [f"The window cannot open ({self.why}): Qt's X11 (xcb) platform plugin needs "
                 "these system libraries, which are not installed:"]
        lines += [f"  {lib.soname} (Debian/Ubuntu: {lib.debian or '?'}, Fedora: {lib.fedora or '?'})"
                  for lib in self.missing]
        lines.append("Install them with one of:")
        lines += [f"  {command}" for command in self.install_commands()]
        return "\n".join(lines)

    def summary(self) -> str:
        """The same in one line, for ``selftest``."""
        names = ", ".join(lib.soname for lib in self.missing)
        return f"missing {names}; install with {'; '.join(self.install_commands())}"


def check_platform(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    libraries: Iterable[SystemLibrary] | None = None,
    load: Callable[[str], bool] = loads,
) -> PlatformCheck:
    """Load every library the xcb plugin needs (all of them, also where xcb will not be
    used, so ``selftest`` can report them) and say whether the window can start."""
    env = os.environ if environ is None else environ
    if libraries is None:
        libraries = libraries_from_env(env[LIBS_ENV]) if env.get(LIBS_ENV) else XCB_LIBRARIES
    checked = tuple(libraries)
    platform = platform or sys.platform
    on_linux = platform.startswith("linux")
    missing = tuple(lib for lib in checked if not load(lib.soname)) if on_linux else ()
    return PlatformCheck(*platform_choice(env, platform), checked, missing)


def has_display(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a window could open at all: a display server, or a Qt platform that needs none."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return True  # macOS and Windows always have a window server for a logged-in user
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
