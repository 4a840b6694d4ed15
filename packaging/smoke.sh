#!/usr/bin/env bash
# Smoke test of the PyInstaller bundle. Slow (minutes), so not part of `make test`.
#
#   packaging/smoke.sh              check dist/rlm-desktop (runs `make package` first if it is missing)
#   packaging/smoke.sh --rebuild    always run `make package` first
#
# Runs the bundle the way a user would: from another directory, with a PATH and an
# environment that hold no virtualenv, and a temporary HOME (so nothing lands in yours;
# the installed models are found through RLM_DESKTOP_MODELS). Checks:
#   1. `rlm-desktop --version`, and `models install --if-missing` of the 0.5B model
#   2. `rlm-desktop selftest` headless: llama.cpp, the 0.5B model, indexing the samples,
#      the REPL sandbox worker, a cited answer to the sample question, the X11 libraries
#      of Qt's xcb plugin (a SKIP naming the missing ones: the smoke runs offscreen), the
#      main window
#   3. indexing a folder large enough to use the extraction process pool
#   4. packaging/linux/install.sh and uninstall.sh into the temporary HOME
# and reports the bundle size. Exits non-zero on the first failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bundle="$repo/dist/rlm-desktop"
app="$bundle/rlm-desktop"

if [[ "${1:-}" == "--rebuild" || ! -x "$app" ]]; then
    echo "== building the bundle (make package)"
    make -C "$repo" package
fi

models=${RLM_DESKTOP_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/rlm-desktop/models}
work=$(mktemp -d -t rlm-desktop-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"

# A user's shell: no venv, no PYTHONPATH, no display.
run() {
    (cd "$work" && env -i HOME="$work/home" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        QT_QPA_PLATFORM=offscreen RLM_DESKTOP_MODELS="$models" "$@")
}

step() { echo; echo "== $*"; }
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

step "rlm-desktop --version"
version=$(run "$app" --version) || fail "--version exited with $?"
echo "$version"
[[ "$version" == "rlm-desktop "* ]] || fail "unexpected --version output: $version"

step "rlm-desktop models install --if-missing (the bundle's installer; a no-op when installed)"
run "$app" models install --if-missing qwen2.5-coder-0.5b-instruct-q4_k_m || fail "the 0.5B model is not installed and could not be"

step "rlm-desktop selftest (from the bundle, headless)"
started=$SECONDS
run "$app" selftest || fail "selftest failed (its FAIL lines above say why)"
echo "selftest took $((SECONDS - started)) s"

step "indexing a folder that uses the extraction process pool"
mkdir -p "$work/many"
for i in $(seq -w 1 60); do  # 60 files, ~5 MB: above the inline limits of library/scan.py
    awk -v i="$i" 'BEGIN { for (n = 0; n < 1000; n++) print "water level " i "." n " at the harbour station rose after the spring tide" }' \
        > "$work/many/note$i.txt"
done
run env RLM_DESKTOP_DATA="$work/data" "$app" index --no-progress "$work/many" || fail "index through the process pool failed"

step "packaging/linux/install.sh and uninstall.sh (into the temporary HOME)"
run sh "$repo/packaging/linux/install.sh" "$bundle" || fail "install.sh failed"
data_home="$work/home/.local/share"
for f in "$work/home/.local/bin/rlm-desktop" "$data_home/applications/rlm-desktop.desktop" \
         "$data_home/icons/hicolor/scalable/apps/rlm-desktop.svg" "$data_home/rlm-desktop/app/rlm-desktop"; do
    [[ -e "$f" ]] || fail "install.sh did not create $f"
done
run "$work/home/.local/bin/rlm-desktop" --version >/dev/null || fail "the installed launcher does not start"
run sh "$repo/packaging/linux/uninstall.sh" || fail "uninstall.sh failed"
for f in "$work/home/.local/bin/rlm-desktop" "$data_home/applications/rlm-desktop.desktop" \
         "$data_home/icons/hicolor/scalable/apps/rlm-desktop.svg" "$data_home/rlm-desktop/app"; do
    [[ ! -e "$f" && ! -L "$f" ]] || fail "uninstall.sh left $f"
done

step "bundle size"
du -sh "$bundle"
echo
echo "smoke: PASS ($version)"
