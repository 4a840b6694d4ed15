#!/bin/sh
# What the real-window tests need from Debian/Ubuntu (tests/gui/test_real_window.py): an X
# server (Xvfb), the X11 libraries Qt's xcb plugin loads, and a font. Idempotent and quick
# when all are there (one dpkg-query). Installs with apt-get when run as root, or with
# `sudo -n` when that works without a password; otherwise says what to run, and the
# real-window tests skip naming the missing packages. `make test` calls it.
set -eu
PACKAGES="xvfb fonts-dejavu-core libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
libxcb-util1 libxcb-randr0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libxcb1
libx11-xcb1 libx11-6 libxkbcommon-x11-0 libxkbcommon0 libgl1 libegl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0"

command -v dpkg-query >/dev/null 2>&1 || { echo "x-test-deps: not a Debian system; the real-window tests need Xvfb and Qt's X11 libraries (see README)"; exit 0; }
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "x-test-deps: installing for the real-window tests:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "x-test-deps: not root: run  sudo apt-get install$missing  (the real-window tests skip until then)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || \
    echo "x-test-deps: apt-get install failed; the real-window tests will say what is missing"
