"""Stand-ins for ``stunnel -version`` on PATH, so a test can choose the stunnel version the
compiler finds without installing it. Only for compiling: a daemon started while one is on
PATH would be the stand-in."""

import os
from pathlib import Path

# What ``stunnel -version`` prints on NethServer 7 (on stderr; it then fails to read the
# default configuration file and exits 1).
STUNNEL_456_OUTPUT = """\
stunnel 4.56 on x86_64-redhat-linux-gnu platform
Compiled/running with OpenSSL 1.0.2k-fips  26 Jan 2017
Threading:PTHREAD Sockets:POLL,IPv6 SSL:ENGINE,OCSP,FIPS Auth:LIBWRAP
 
Global options:
debug                  = daemon.notice
pid                    = /var/run/stunnel.pid
RNDbytes               = 64
RNDfile                = /dev/urandom
RNDoverwrite           = yes
 
Service-level options:
ciphers                = FIPS
curve                  = prime256v1
session                = 300 seconds
sslVersion             = TLSv1 for client, all for server
stack                  = 65536 bytes
TIMEOUTbusy            = 300 seconds
TIMEOUTclose           = 60 seconds
TIMEOUTconnect         = 10 seconds
TIMEOUTidle            = 43200 seconds
verify                 = none
"""


def stunnel_output(version: str) -> str:
    """``stunnel -version``'s first lines for ``version`` (as 5.x prints them)."""
    return (f"stunnel {version} on x86_64-pc-linux-gnu platform\n"
            "Compiled with OpenSSL 3.0.9 30 May 2023\nRunning  with OpenSSL 3.0.22 25 Aug 2026\n")


def install_fake_stunnel(folder: Path, output: str, exit_code: int = 0) -> Path:
    """A folder holding ``stunnel`` and ``stunnel4`` that print ``output`` on stderr and exit
    ``exit_code``; put it first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "version.txt").write_text(output)
    for name in ("stunnel", "stunnel4"):
        script = folder / name
        script.write_text(f"#!/bin/sh\ncat '{folder}/version.txt' >&2\nexit {exit_code}\n")
        script.chmod(0o755)
    return folder


def path_with(folder: Path) -> str:
    """PATH with ``folder`` first."""
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
