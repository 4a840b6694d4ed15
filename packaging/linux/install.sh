#!/bin/sh
# Install the RLM Desktop bundle for the current user (no root needed).
#
#   packaging/linux/install.sh [BUNDLE_DIR]     (default: dist/rlm-desktop of this checkout)
#
# Puts (XDG_DATA_HOME defaults to ~/.local/share):
#   $XDG_DATA_HOME/rlm-desktop/app/                      a copy of the bundle
#   ~/.local/bin/rlm-desktop                             a symlink to the app's launcher
#   $XDG_DATA_HOME/applications/rlm-desktop.desktop      the menu entry (runs `rlm-desktop gui`)
#   $XDG_DATA_HOME/icons/hicolor/scalable/apps/rlm-desktop.svg
# Models and your library live beside app/ in $XDG_DATA_HOME/rlm-desktop and are not touched.
# packaging/linux/uninstall.sh removes exactly these again.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bundle=${1:-"$here/../../dist/rlm-desktop"}
if [ ! -x "$bundle/rlm-desktop" ]; then
    echo "install.sh: no bundle at $bundle (build it with \`make package\`, or pass its folder)" >&2
    exit 1
fi
bundle=$(cd "$bundle" && pwd)

data_home=${XDG_DATA_HOME:-"$HOME/.local/share"}
app_dir="$data_home/rlm-desktop/app"
bin_dir="$HOME/.local/bin"
apps_dir="$data_home/applications"
icon_dir="$data_home/icons/hicolor/scalable/apps"

resources="$bundle/_internal/resources"
[ -d "$resources" ] || resources="$bundle/resources"
for f in "$resources/rlm-desktop.desktop" "$resources/icons/rlm-desktop.svg"; do
    if [ ! -f "$f" ]; then
        echo "install.sh: $f is missing from the bundle" >&2
        exit 1
    fi
done

# Copy beside the old install, then swap, so a failed copy leaves the old one working.
mkdir -p "$data_home/rlm-desktop"
staging="$data_home/rlm-desktop/.app.new.$$"
rm -rf "$staging"
cp -a "$bundle" "$staging"
rm -rf "$app_dir"
mv "$staging" "$app_dir"

mkdir -p "$bin_dir" "$apps_dir" "$icon_dir"
ln -sfn "$app_dir/rlm-desktop" "$bin_dir/rlm-desktop"
cp "$resources/icons/rlm-desktop.svg" "$icon_dir/rlm-desktop.svg"
# The entry in resources/ is written for a pip install (Exec=rlm-desktop-gui); point it at
# the bundle's launcher instead. The path is quoted for the Exec key's rules.
sed -e "s|^Exec=.*|Exec=\"$app_dir/rlm-desktop\" gui|" \
    -e "/^TryExec=/d" \
    -e "/^Exec=/a TryExec=$app_dir/rlm-desktop" \
    "$resources/rlm-desktop.desktop" > "$apps_dir/rlm-desktop.desktop"
chmod 644 "$apps_dir/rlm-desktop.desktop"

# Refresh the menu and icon caches where the tools exist; harmless where they do not.
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps_dir" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" 2>/dev/null || true

echo "Installed $("$app_dir/rlm-desktop" --version) into $app_dir"
echo "  launcher:   $bin_dir/rlm-desktop"
echo "  menu entry: $apps_dir/rlm-desktop.desktop"
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "  note: $bin_dir is not on your PATH; add it, or start $app_dir/rlm-desktop directly" ;;
esac
echo "Models are installed on first start, or now with: rlm-desktop models install qwen2.5-coder-0.5b-instruct-q4_k_m qwen2.5-coder-1.5b-instruct-q4_k_m"
