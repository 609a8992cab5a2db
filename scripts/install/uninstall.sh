#!/usr/bin/env bash
# Removes piauth: the service, the unit and the binary. The data (/var/lib/piauth: keys,
# clients, users, refresh tokens) and the config are kept unless --purge is given.
#
#   scripts/install/uninstall.sh [--purge] [--root DIR]
set -euo pipefail
purge=0 root=""
while [ $# -gt 0 ]; do
    case "$1" in
        --purge) purge=1; shift ;;
        --root) root="$2"; shift 2 ;;
        -h|--help) sed -n 2,5p "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$root" ]; then
    [ "$(id -u)" = 0 ] || { echo "uninstall.sh: run as root (sudo)" >&2; exit 1; }
    systemctl disable --now piauth.service 2>/dev/null || true
fi
rm -f "$root/etc/systemd/system/piauth.service" "$root/usr/bin/piauth"
[ -n "$root" ] || systemctl daemon-reload
if [ "$purge" = 1 ]; then
    rm -rf "$root/var/lib/piauth" "$root/etc/piauth"
    [ -n "$root" ] || userdel piauth 2>/dev/null || true
    echo "piauth removed with its data and config."
else
    echo "piauth removed; data kept in /var/lib/piauth and config in /etc/piauth (--purge removes them)."
fi
