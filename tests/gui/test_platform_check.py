"""The xcb start-up check: it names the X11 libraries Qt's xcb plugin cannot load, with the
command that installs them, only requires them where Qt will use xcb, and imports no Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlm_desktop.gui import platform_check as pc

MISSING = "libxcb-nothere.so.9:libxcb-nothere9:xcb-util-nothere"


def test_a_library_that_does_not_exist_is_named_with_the_install_commands() -> None:
    check = pc.check_platform({"DISPLAY": ":99", pc.LIBS_ENV: f"{MISSING},libc.so.6"}, "linux")
    assert not check.ok
    assert [lib.soname for lib in check.missing] == ["libxcb-nothere.so.9"]  # libc.so.6 loads
    assert check.install_commands() == [
        "Debian/Ubuntu: sudo apt-get install libxcb-nothere9",
        "Fedora: sudo dnf install xcb-util-nothere",
    ]
    message = check.message()
    assert "X display :99" in message
    assert "libxcb-nothere.so.9 (Debian/Ubuntu: libxcb-nothere9, Fedora: xcb-util-nothere)" in message
    assert "sudo apt-get install libxcb-nothere9" in message and "sudo dnf install xcb-util-nothere" in message


def test_a_listed_soname_keeps_its_packages_and_commands_name_each_package_once() -> None:
    check = pc.check_platform({"DISPLAY": ":0", pc.LIBS_ENV: "libxcb-icccm.so.4,libxcb-shm.so.0,libxcb.so.1"},
                           "linux", load=lambda soname: False)
    assert check.install_commands() == [
        "Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxcb-shm0 libxcb1",
        "Fedora: sudo dnf install xcb-util-wm libxcb",
    ]


def test_nothing_missing_is_ok() -> None:
    check = pc.check_platform({"DISPLAY": ":0"}, "linux", libraries=[pc.SystemLibrary("libc.so.6", "libc6", "glibc")])
    assert check.ok and check.uses_xcb and not check.missing


def test_the_list_covers_what_libqxcb_needs_beyond_the_wheel() -> None:
    sonames = {lib.soname for lib in pc.XCB_LIBRARIES}
    assert {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"} <= sonames
    assert not any(name.startswith(("libQt6", "libicu")) for name in sonames)  # bundled in PySide6
    assert all(lib.debian and lib.fedora for lib in pc.XCB_LIBRARIES)


@pytest.mark.parametrize(
    ("env", "platform", "uses_xcb"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),  # Qt's choice
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
    ],
)
def test_xcb_is_required_only_where_qt_will_use_it(env: dict, platform: str, uses_xcb: bool) -> None:
    assert pc.platform_choice(env, platform)[0] is uses_xcb
    check = pc.check_platform({**env, pc.LIBS_ENV: MISSING}, platform)
    assert check.ok is not uses_xcb


def test_the_check_imports_no_qt() -> None:
    code = ("import sys; from rlm_desktop.gui.platform_check import check_platform; check_platform(); "
            "from rlm_desktop.cli import gui; print('PySide6' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "False"


def test_the_readme_lists_every_package() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### System libraries for the window", 1)[1].split("\n## ", 1)[0]
    words = set(section.replace("\\", " ").split())
    assert {lib.debian for lib in pc.XCB_LIBRARIES} <= words
    assert {lib.fedora for lib in pc.XCB_LIBRARIES} <= words
