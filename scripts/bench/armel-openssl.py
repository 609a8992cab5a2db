#!/usr/bin/env python3
"""Debian's armel OpenSSL, unpacked to run under qemu: the yardstick of issue 14.

    scripts/bench/armel-openssl.py [--root DIR]     # prints the path of its `openssl`

Debian's armel port (ARMv5TE and up, so it runs as an ARM1176 does) builds OpenSSL with
its ARMv4 assembly, P-256 among it (ecp_nistz256-armv4 and its table of base-point
multiples). This fetches Debian 12's armel `openssl`, `libssl3`, `libc6` and `libatomic1`
from deb.debian.org, checks each against the SHA-256 of the signed index it came from
(bookworm-security first, then bookworm), and unpacks them into DIR (default
target/armel-openssl) with `dpkg-deb -x`. No root, no `dpkg --add-architecture`.

Run it as `qemu-arm-static -cpu arm1176 -L DIR DIR/usr/bin/openssl speed ecdsap256`.
"""

import argparse
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIRRORS = [
    ("http://deb.debian.org/debian-security", "bookworm-security"),
    ("http://deb.debian.org/debian", "bookworm"),
]
PACKAGES = ["openssl", "libssl3", "libc6", "libatomic1"]


def index(base, suite):
    """Package name -> (version, Filename, SHA256) from one suite's armel index."""
    url = f"{base}/dists/{suite}/main/binary-armel/Packages.xz"
    try:
        text = lzma.decompress(urllib.request.urlopen(url, timeout=120).read()).decode()
    except (OSError, lzma.LZMAError) as e:
        print(f"armel-openssl: {url}: {e} (skipped)", file=sys.stderr)
        return {}
    out = {}
    for para in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in para.splitlines() if ": " in line and not line.startswith(" "))
        name = fields.get("Package")
        if name in PACKAGES and name not in out:
            out[name] = (fields["Version"], f"{base}/{fields['Filename']}", fields["SHA256"])
    return out


def setup(root):
    openssl = os.path.join(root, "usr", "bin", "openssl")
    if os.path.exists(openssl):
        return openssl
    found = {}
    for base, suite in MIRRORS:
        for name, entry in index(base, suite).items():
            found.setdefault(name, entry)  # security updates win
    missing = [p for p in PACKAGES if p not in found]
    if missing:
        sys.exit(f"armel-openssl: not in any index: {missing}")
    tmp = tempfile.mkdtemp(prefix="armel-openssl-")
    try:
        for name in PACKAGES:
            version, url, sha = found[name]
            data = urllib.request.urlopen(url, timeout=300).read()
            if hashlib.sha256(data).hexdigest() != sha:
                sys.exit(f"armel-openssl: {url}: SHA-256 does not match the index")
            deb = os.path.join(tmp, f"{name}.deb")
            with open(deb, "wb") as f:
                f.write(data)
            subprocess.run(["dpkg-deb", "-x", deb, tmp + "/root"], check=True)
            print(f"armel-openssl: {name} {version}", file=sys.stderr)
        # Debian 12 is merged-/usr: its loader looks in /usr/lib/arm-linux-gnueabi for
        # libraries the packages put under /lib/arm-linux-gnueabi.
        lib, usr_lib = os.path.join(tmp, "root", "lib"), os.path.join(tmp, "root", "usr", "lib")
        shutil.copytree(lib, usr_lib, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(lib)
        os.symlink("usr/lib", lib)
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(os.path.dirname(root), exist_ok=True)
        shutil.move(tmp + "/root", root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return openssl


def default_root():
    return os.path.join(ROOT, "target", "armel-openssl")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=default_root())
    print(setup(os.path.abspath(ap.parse_args().root)))


if __name__ == "__main__":
    main()
