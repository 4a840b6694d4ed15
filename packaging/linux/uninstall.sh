#!/bin/sh
# Remove what packaging/linux/install.sh installed for the current user.
#
#   packaging/linux/uninstall.sh            keeps your models, library, runs and settings
#   packaging/linux/uninstall.sh --purge    also deletes them ($XDG_DATA_HOME/rlm-desktop)
set -eu

purge=0
case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) echo "usage: uninstall.sh [--purge]" >&2; exit 2 ;;
esac

data_home=${XDG_DATA_HOME:-"$HOME/.local/share"}
data_dir="$data_home/rlm-desktop"
app_dir="$data_dir/app"
launcher="$HOME/.local/bin/rlm-desktop"
desktop="$data_home/applications/rlm-desktop.desktop"
icon="$data_home/icons/hicolor/scalable/apps/rlm-desktop.svg"

removed=0
remove() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        rm -rf "$1"
        echo "removed $1"
        removed=1
    fi
}

# The launcher only if it is ours: a pip-installed rlm-desktop there is left alone.
if [ -L "$launcher" ] && [ "$(readlink "$launcher")" = "$app_dir/rlm-desktop" ]; then
    remove "$launcher"
elif [ -e "$launcher" ]; then
    echo "left $launcher: it is not the bundle's launcher"
fi
remove "$desktop"
remove "$icon"
remove "$app_dir"

command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data_home/applications" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" 2>/dev/null || true

if [ "$purge" = 1 ]; then
    remove "$data_dir"
elif [ -d "$data_dir" ]; then
    echo "kept your models, library and runs in $data_dir (uninstall.sh --purge deletes them)"
fi
[ "$removed" = 1 ] || echo "nothing to remove: RLM Desktop was not installed for $(id -un)"
