#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests against the real binary, the import
# rules of src/ (scripts/check/layers.py), the interop tests (requests-oauthlib, oauthlib,
# PyJWT, authlib), the admin path as the package installs piauth (as root), the pages in
# headless Chromium, then real relying parties (Apache's mod_auth_openidc, django-allauth,
# openid-client). Installs what it needs (apt
# packages, a Python venv under target/, npm packages under tests/apps/node) so that it works
# on a fresh Debian 12 machine with only Rust present.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked
cargo test --locked

# The systemd unit: it must verify, and its exposure score is printed for the README.
if ! command -v systemd-analyze >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
    fi
fi
if command -v systemd-analyze >/dev/null; then
    unitdir=$(mktemp -d)
    sed "s#/usr/bin/piauth#$PWD/target/debug/piauth#" systemd/piauth.service > "$unitdir/piauth.service"
    systemd-analyze verify "$unitdir/piauth.service"
    systemd-analyze security --offline=true "$unitdir/piauth.service" | tail -n 1
    rm -rf "$unitdir"
else
    echo "systemd-analyze unavailable: unit not verified" >&2
    exit 1
fi

venv=target/interop-venv
if ! [ -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian ships venv separately; install it when we may.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip
        else
            echo "need python3 with venv: sudo apt-get install python3-venv" >&2
            exit 1
        fi
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/interop/requirements.txt \
    -r tests/browser/requirements.txt
# The source tree's layers: wiring -> adapters -> core -> vocabulary, no import cycle.
"$venv/bin/python" scripts/check/layers.py src

PIAUTH_BIN="$PWD/target/debug/piauth" "$venv/bin/python" -m pytest -q tests/interop

# The owner's admin path as the package installs piauth (system user, /etc/piauth,
# /var/lib/piauth bind-mounted in a private mount namespace): needs root, skipped otherwise.
PIAUTH_BIN="$PWD/target/debug/piauth" "$venv/bin/python" -m pytest -q -rs tests/system

# The pages, in headless Chromium (Debian's chromium and chromedriver).
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "need chromium and chromedriver: sudo apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi
PIAUTH_BIN="$PWD/target/debug/piauth" "$venv/bin/python" -m pytest -q tests/browser

# Real relying parties at their defaults (tests/apps/): Apache with Debian's mod_auth_openidc,
# django-allauth as Paperless-ngx configures it, openid-client 5 and 6 from npm. They are
# installed here; `-p no:skipping` makes a missing one fail rather than skip.
apps_apt=()
[ -e /usr/lib/apache2/modules/mod_auth_openidc.so ] || apps_apt+=(apache2 libapache2-mod-auth-openidc)
command -v node >/dev/null && command -v npm >/dev/null || apps_apt+=(nodejs npm)
if [ ${#apps_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apps_apt[@]}" >/dev/null
    else
        echo "need: sudo apt-get install ${apps_apt[*]}" >&2
        exit 1
    fi
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/apps/requirements.txt
if [ -f tests/apps/node/package-lock.json ]; then
    (cd tests/apps/node && npm ci --no-audit --no-fund --loglevel=error)
fi
PIAUTH_BIN="$PWD/target/debug/piauth" "$venv/bin/python" -m pytest -q -p no:skipping tests/apps
