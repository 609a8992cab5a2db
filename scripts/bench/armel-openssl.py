#!/usr/bin/env python3
"""Debian's armel OpenSSL, unpacked to run under qemu: the yardstick of issue 14.

    scripts/bench/armel-openssl.py [--root DIR]     # prints the path of its `openssl`

Debian's armel port (ARMv5TE and up, so it runs as an ARM1176 does) builds OpenSSL with
its ARMv4 assembly, P-256 among it (ecp_nistz256-armv4 and its table of base-point
multiples). This gets Debian 12's armel `openssl`, `libssl3`, `libc6` and `libatomic1`
through the machine's own package manager: `dpkg --add-architecture armel`, `apt-get
update` and `apt-get download`, so the packages come from the configured mirrors and are
checked against their signed indexes by apt (security updates included where the sources
list them). It unpacks them into DIR (default target/armel-openssl) with `dpkg-deb -x`;
nothing is installed. Needs root the first time (to add the architecture and update).

Run it as `qemu-arm-static -cpu arm1176 -L DIR DIR/usr/bin/openssl speed ecdsap256`.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ["openssl", "libssl3", "libc6", "libatomic1"]


def add_armel():
    """Makes apt know the armel packages (once per machine)."""
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], check=True,
                             capture_output=True, text=True).stdout.split()
    if "armel" not in foreign:
        subprocess.run(["dpkg", "--add-architecture", "armel"], check=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)


def setup(root):
    openssl = os.path.join(root, "usr", "bin", "openssl")
    if os.path.exists(openssl):
        return openssl
    add_armel()
    tmp = tempfile.mkdtemp(prefix="armel-openssl-")
    try:
        # apt's download user cannot write to a private temporary directory.
        subprocess.run(["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root"]
                       + [f"{p}:armel" for p in PACKAGES], cwd=tmp, check=True)
        for deb in sorted(glob.glob(os.path.join(tmp, "*.deb"))):
            what = subprocess.run(["dpkg-deb", "--show", "--showformat=${Package} ${Version}", deb],
                                  check=True, capture_output=True, text=True).stdout
            subprocess.run(["dpkg-deb", "-x", deb, tmp + "/root"], check=True)
            print(f"armel-openssl: {what}", file=sys.stderr)
        # Debian 12 is merged-/usr: its loader looks in /usr/lib/arm-linux-gnueabi for
        # libraries the packages put under /lib/arm-linux-gnueabi.
        lib, usr_lib = os.path.join(tmp, "root", "lib"), os.path.join(tmp, "root", "usr", "lib")
        if os.path.isdir(lib) and not os.path.islink(lib):
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
