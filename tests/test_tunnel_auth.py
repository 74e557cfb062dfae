"""How the tunnel authenticates, as the compiler chooses it: from the installed stunnel's
version (faked here: ``stunnel -version`` on PATH) or from ``TunnelAuth``; recorded in the
plan; and in certificate mode a ``stunnel.conf`` that stunnel 4.56 (NethServer 7) reads."""

import json
import re

import pytest
from fake_tools import STUNNEL_456_OUTPUT, install_fake_stunnel, path_with, stunnel_output
from support.hosts import Host
from support.runner import admin
from support.trees import tree_digest

PLAN = "var/lib/nethserver/hotsync/plan.json"
STUNNEL_CONF = "etc/stunnel/stunnel.conf"

# Every option stunnel 4.56's manual (doc/stunnel.pod of the stunnel-4.56 release) lists,
# global and per service. stunnel compares option names ignoring case.
STUNNEL_456_OPTIONS = {
    "chroot", "compression", "debug", "egd", "engine", "enginectrl", "fips", "foreground", "output",
    "pid", "rndbytes", "rndfile", "rndoverwrite", "service", "setgid", "setuid", "socket", "syslog",
    "taskbar", "accept", "capath", "cafile", "cert", "ciphers", "client", "connect", "crlpath",
    "crlfile", "curve", "delay", "enginenum", "exec", "execargs", "failover", "ident", "key",
    "libwrap", "local", "sni", "ocsp", "ocspflag", "options", "protocol", "protocolauthentication",
    "protocolhost", "protocolpassword", "protocolusername", "pty", "renegotiation", "reset", "retry",
    "sessioncachesize", "sessioncachetimeout", "sessiond", "sslversion", "stack", "timeoutbusy",
    "timeoutclose", "timeoutconnect", "timeoutidle", "transparent", "verify",
}
# The socket options stunnel 4.56 knows (its src/options.c table, Linux).
STUNNEL_456_SOCKET_OPTIONS = {
    "SO_DEBUG", "SO_DONTROUTE", "SO_KEEPALIVE", "SO_LINGER", "SO_OOBINLINE", "SO_RCVBUF", "SO_SNDBUF",
    "SO_RCVLOWAT", "SO_SNDLOWAT", "SO_RCVTIMEO", "SO_SNDTIMEO", "SO_REUSEADDR", "SO_BINDTODEVICE",
    "TCP_KEEPCNT", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_MAXSEG", "TCP_NODELAY",
}


@pytest.fixture
def stunnel_reports(tmp_path, monkeypatch):
    """Make ``stunnel -version`` print ``output`` and exit ``exit_code`` for what follows."""

    def install(output: str, exit_code: int = 0):
        folder = install_fake_stunnel(tmp_path / "fake-bin", output, exit_code)
        monkeypatch.setenv("PATH", path_with(folder))

    return install


def configured_host(root, role="slave", *settings):
    """An installed host with a role, the password and ``settings`` (hotsync props), not compiled."""
    return Host(root).configure(role, peer="192.168.1.1", settings=settings, in_process=True).root


def transport(root) -> dict:
    return json.loads((root / PLAN).read_text())["transport"]


def stunnel_in_plan(root) -> str:
    return json.loads((root / PLAN).read_text())["tools"]["stunnel"]


def options_of(conf: str):
    """(name, value) of every option line of a stunnel.conf."""
    for line in conf.splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            name, _equals, value = line.partition("=")
            yield name.strip(), value.strip()


@pytest.mark.parametrize("output, exit_code, version, mode", [
    (STUNNEL_456_OUTPUT, 1, "4.56", "certificate"),  # NethServer 7: says it on stderr, exits 1
    (stunnel_output("5.08"), 0, "5.08", "certificate"),
    (stunnel_output("5.09"), 1, "5.09", "psk"),
    (stunnel_output("5.68"), 0, "5.68", "psk"),
])
def test_the_installed_stunnel_version_chooses_the_mode_and_the_plan_records_both(
        sandbox, hotsync, stunnel_reports, output, exit_code, version, mode):
    stunnel_reports(output, exit_code)
    configured_host(sandbox, "slave")
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 0, outcome.err
    assert (stunnel_in_plan(sandbox), transport(sandbox)["auth"]) == (version, mode)
    tunnel_lines = [line for line in hotsync("--root", sandbox, "status").out.splitlines() if line.startswith("tunnel: ")]
    assert len(tunnel_lines) == 1 and tunnel_lines[0].startswith(f"tunnel: {mode} (stunnel {version} ")
    conf = (sandbox / STUNNEL_CONF).read_text()
    key = (sandbox / "etc/stunnel/hotsync-tunnel.key").read_text()
    psk = (sandbox / "etc/stunnel/hotsync.psk").read_text()
    if mode == "psk":
        assert "PSKsecrets" in conf and "verify" not in conf
        assert psk.startswith("hotsync:") and key == ""
    else:
        assert "PSK" not in conf and "verify = 3" in conf
        assert psk == "" and key.startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_tunnel_auth_overrides_the_version(sandbox, hotsync, stunnel_reports):
    stunnel_reports(stunnel_output("5.68"))
    configured_host(sandbox, "master", "TunnelAuth", "certificate")
    assert hotsync("--root", sandbox, "compile").code == 0
    assert transport(sandbox)["auth"] == "certificate"
    assert transport(sandbox)["auth_chosen_by"] == "set by TunnelAuth"
    admin(sandbox, "config", "setprop", "hotsync", "TunnelAuth", "psk", in_process=True)
    assert hotsync("--root", sandbox, "compile").code == 0
    assert transport(sandbox)["auth"] == "psk"
    assert "PSKidentity = hotsync" in (sandbox / STUNNEL_CONF).read_text()


def test_psk_on_a_stunnel_without_it_is_a_located_error_and_nothing_is_written(sandbox, hotsync, stunnel_reports):
    stunnel_reports(STUNNEL_456_OUTPUT, 1)
    configured_host(sandbox, "slave")
    admin(sandbox, "compile", "--quiet", in_process=True)
    admin(sandbox, "config", "setprop", "hotsync", "TunnelAuth", "psk", in_process=True)
    before = tree_digest(sandbox)
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == (
        "configuration:hotsync.TunnelAuth: error: TunnelAuth is psk but this host's stunnel 4.56 has no "
        "pre-shared keys (stunnel 5.09 and later): run 'config setprop hotsync TunnelAuth certificate' on both "
        "hosts, or 'config delprop hotsync TunnelAuth' to let each host's stunnel decide")
    assert tree_digest(sandbox) == before


def test_an_unknown_tunnel_auth_is_refused(sandbox, hotsync, stunnel_reports):
    stunnel_reports(stunnel_output("5.68"))
    configured_host(sandbox, "slave")
    admin(sandbox, "compile", "--quiet", in_process=True)
    admin(sandbox, "config", "setprop", "hotsync", "TunnelAuth", "certs", in_process=True)
    before = tree_digest(sandbox)
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == (
        "configuration:hotsync.TunnelAuth: error: 'certs' is not a tunnel authentication (expected psk, "
        "certificate, or empty to choose from the installed stunnel's version)")
    assert tree_digest(sandbox) == before


@pytest.mark.parametrize("output", ["", "stunnel: command garbled\n"])
def test_an_unreadable_version_means_certificates_with_a_warning(sandbox, hotsync, stunnel_reports, output):
    stunnel_reports(output, 1)
    configured_host(sandbox, "slave")
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 0
    assert "configuration:hotsync.TunnelAuth: warning: cannot tell the installed stunnel's version" in outcome.err
    assert (stunnel_in_plan(sandbox), transport(sandbox)["auth"]) == ("", "certificate")


def test_stunnel_5_09_to_5_49_gets_no_option_it_lacks(sandbox, hotsync, stunnel_reports):
    # sslVersionMin came with stunnel 5.50: before it, sslVersion pins TLS 1.2.
    stunnel_reports(stunnel_output("5.44"))
    configured_host(sandbox, "master")
    assert hotsync("--root", sandbox, "compile").code == 0
    conf = (sandbox / STUNNEL_CONF).read_text()
    assert "sslVersion = TLSv1.2" in conf and "sslVersionMin" not in conf


@pytest.mark.parametrize("role, settings", [
    ("master", ()),
    ("slave", ()),
    # A promoted master that answers its old master on the fence port.
    ("master", ("FencePort", "2731", "PromotionGeneration", "1")),
    # A slave whose promotion has started: only the fence answers.
    ("slave", ("PromotionStarted", "1700000000")),
])
def test_certificate_mode_uses_only_options_stunnel_4_56_knows(sandbox, hotsync, stunnel_reports, role, settings):
    stunnel_reports(STUNNEL_456_OUTPUT, 1)
    configured_host(sandbox, role, *settings)
    assert hotsync("--root", sandbox, "compile").code == 0
    conf = (sandbox / STUNNEL_CONF).read_text()
    options = list(options_of(conf))
    unknown = sorted({name for name, _value in options if name.lower() not in STUNNEL_456_OPTIONS})
    assert unknown == []
    socket_options = {re.split(r"[:=]", value)[1] for name, value in options if name == "socket"}
    assert socket_options <= STUNNEL_456_SOCKET_OPTIONS
    services = conf.count("\n[")
    assert services >= 1
    certificate = str(sandbox / "etc/stunnel/hotsync-tunnel.pem")
    for wanted in (("cert", certificate), ("CAfile", certificate), ("verify", "3"), ("sslVersion", "TLSv1.2"),
                   ("key", str(sandbox / "etc/stunnel/hotsync-tunnel.key"))):
        assert options.count(wanted) == services, wanted
