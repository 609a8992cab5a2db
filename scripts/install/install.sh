#!/usr/bin/env bash
# Installs or upgrades piauth on a Raspberry Pi (or any systemd Linux), keeping its data.
#
#   scripts/install/install.sh [--binary FILE] [--root DIR] [--no-start]
#   scripts/install/install.sh --host USER@PI [--binary FILE]     # the same, over ssh
#
# Picks the binary for this machine's architecture (target/<triple>/release/piauth from
# scripts/build/cross-build.sh, or ./piauth beside this script) unless --binary names one.
# Creates the system user `piauth`, installs /usr/bin/piauth, the systemd unit and a config
# file (an existing one is kept), then enables and (re)starts the service. Running it again
# upgrades in place. --root DIR stages everything under DIR without touching users or
# systemd (for packaging and tests).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"

binary="" root="" host="" start=1 unit=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --root) root="$2"; shift 2 ;;
        --host) host="$2"; shift 2 ;;
        --unit) unit="$2"; shift 2 ;;
        --no-start) start=0; shift ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

triple_for() {
    case "$1" in
        armv6l) echo arm-unknown-linux-musleabihf ;;
        armv7l) echo armv7-unknown-linux-musleabihf ;;
        aarch64|arm64) echo aarch64-unknown-linux-musl ;;
        x86_64) echo x86_64-unknown-linux-gnu ;;
        *) return 1 ;;
    esac
}

if [ -n "$host" ]; then
    arch=$(ssh "$host" uname -m)
    if [ -z "$binary" ]; then
        t=$(triple_for "$arch") || { echo "install.sh: no build for $arch" >&2; exit 1; }
        binary="$top/target/$t/release/piauth"
    fi
    [ -x "$binary" ] || { echo "install.sh: $binary missing: run scripts/build/cross-build.sh first" >&2; exit 1; }
    stage=$(ssh "$host" mktemp -d)
    scp -q "$binary" "$here/install.sh" "$top/systemd/piauth.service" "$top/systemd/piauth.toml" "$host:$stage/"
    ssh -t "$host" "sudo bash $stage/install.sh --binary $stage/piauth --unit $stage/piauth.service; rm -rf $stage"
    exit 0
fi

[ -n "$unit" ] || unit="$top/systemd/piauth.service"
[ -f "$unit" ] || unit="$here/piauth.service"

if [ -z "$binary" ]; then
    arch=$(uname -m)
    if [ -x "$here/piauth" ]; then
        binary="$here/piauth"
    elif t=$(triple_for "$arch") && [ -x "$top/target/$t/release/piauth" ]; then
        binary="$top/target/$t/release/piauth"
    elif [ -x "$top/target/release/piauth" ]; then
        binary="$top/target/release/piauth"
    else
        echo "install.sh: no piauth binary for $arch: build one (scripts/build/cross-build.sh) or pass --binary" >&2
        exit 1
    fi
fi
"$binary" --version >/dev/null || { echo "install.sh: $binary does not run on this machine" >&2; exit 1; }

if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or stage with --root DIR" >&2
    exit 1
fi

upgrade=0
[ -x "$root/usr/bin/piauth" ] && upgrade=1

if [ -z "$root" ]; then
    if ! getent passwd piauth >/dev/null; then
        useradd --system --home-dir /var/lib/piauth --no-create-home --shell /usr/sbin/nologin piauth
    fi
    getent group gpio >/dev/null || groupadd --system gpio
    usermod -a -G gpio piauth
fi

install -D -m 0755 "$binary" "$root/usr/bin/piauth.new"
mv -f "$root/usr/bin/piauth.new" "$root/usr/bin/piauth"     # atomic swap on upgrade
install -D -m 0644 "$unit" "$root/etc/systemd/system/piauth.service"
if [ ! -e "$root/etc/piauth/piauth.toml" ]; then
    config="$top/systemd/piauth.toml"
    [ -f "$config" ] || config="$here/piauth.toml"
    install -D -m 0644 "$config" "$root/etc/piauth/piauth.toml"
fi
install -d -m 0700 "$root/var/lib/piauth"
[ -n "$root" ] || chown piauth:piauth /var/lib/piauth

if [ -z "$root" ]; then
    systemctl daemon-reload
    systemctl enable piauth.service >/dev/null
    if [ "$start" = 1 ]; then
        systemctl restart piauth.service
    fi
fi

admin="sudo piauth"
if [ "$upgrade" = 1 ]; then
    echo "piauth upgraded to $("$root/usr/bin/piauth" --version); data in /var/lib/piauth kept."
else
    cat <<MSG
piauth $("$root/usr/bin/piauth" --version | cut -d' ' -f2) installed.
  status:          systemctl status piauth   (journalctl -u piauth for the log)
  config:          /etc/piauth/piauth.toml   (set issuer to the URL devices use)
  first client:    $admin client add thermostat --scope telemetry
  first user:      echo 'a long password' | $admin user add alice --password-stdin
  board and tuning: piauth board
Admin commands find the service through /etc/piauth/piauth.toml; run as root they talk to the
running server, or, when it is stopped, leave every file of the store the piauth user's.
MSG
fi
