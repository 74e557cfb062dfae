"""Certificate mode, for stunnel without pre-shared keys (4.56 on NethServer 7): both hosts
derive the same key and self-signed certificate from the password, checked here with the
openssl tool, and this machine's real stunnel lets a push through only between two hosts
that hold it."""

import hashlib
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from fake_tools import STUNNEL_456_OUTPUT, install_fake_stunnel, path_with
from support.hosts import Host, free_port
from support.passwords import PASSWORD, WRONG_PASSWORD
from support.runner import admin, run_hotsync

from hotsync.compiler import tunnel_certificate, tunnel_key

CERTIFICATE = "etc/stunnel/hotsync-tunnel.pem"
KEY = "etc/stunnel/hotsync-tunnel.key"
CACHE = "var/lib/nethserver/hotsync/tunnel-certificate.json"
# The certificate every HotSync host derives from PASSWORD (SHA-256 of its DER). A change to
# the derivation changes it, and cuts the tunnel between hosts running different versions.
PINNED_CERTIFICATE_SHA256 = "41d5541429c88f9c1dbfe5080386989bb5b5e51184df5eb71f1674bcc8087440"


def openssl(*arguments, stdin: str = "") -> str:
    finished = subprocess.run(["openssl", *arguments], input=stdin, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


@pytest.fixture
def old_stunnel(tmp_path, monkeypatch):
    """Compiles below find NethServer 7's stunnel 4.56 (which has no pre-shared keys)."""
    monkeypatch.setenv("PATH", path_with(install_fake_stunnel(tmp_path / "fake-bin", STUNNEL_456_OUTPUT, 1)))


def compiled_host(root: Path, role: str, password: str = PASSWORD) -> Path:
    Host(root).configure(role, peer="192.168.1.1", password=password, in_process=True)
    admin(root, "compile", "--quiet", in_process=True)
    return root


def der_sha256(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_both_hosts_derive_the_same_valid_certificate_and_key(tmp_path, old_stunnel):
    master, slave = compiled_host(tmp_path / "master", "master"), compiled_host(tmp_path / "slave", "slave")
    for name in (CERTIFICATE, KEY):
        assert (master / name).read_bytes() == (slave / name).read_bytes(), name
    certificate = master / CERTIFICATE
    text = openssl("x509", "-in", str(certificate), "-noout", "-text")
    for expected in ("Version: 3 (0x2)", "Serial Number: 1 (0x1)", "Signature Algorithm: sha256WithRSAEncryption",
                     "Issuer: CN = HotSync tunnel", "Subject: CN = HotSync tunnel", "Public-Key: (2048 bit)",
                     "Not Before: Jan  1 00:00:00 2000 GMT", "Not After : Dec 31 23:59:59 9999 GMT",
                     "CA:TRUE"):
        assert expected in text, expected
    assert openssl("verify", "-CAfile", str(certificate), str(certificate)).strip() == f"{certificate}: OK"
    assert "RSA key ok" in openssl("rsa", "-in", str(master / KEY), "-check", "-noout")
    assert (openssl("x509", "-in", str(certificate), "-noout", "-modulus")
            == openssl("rsa", "-in", str(master / KEY), "-noout", "-modulus"))
    assert der_sha256(certificate.read_text()) == PINNED_CERTIFICATE_SHA256


def test_the_certificate_files_are_root_only_and_hold_no_password(tmp_path, old_stunnel):
    host = compiled_host(tmp_path / "host", "slave")
    for name in (CERTIFICATE, KEY, CACHE):
        assert (host / name).stat().st_mode & 0o777 == 0o600, name
        assert PASSWORD not in (host / name).read_text()
    assert "hotsync-tunnel.key" not in (host / "var/lib/nethserver/hotsync/plan.json").read_text().split("key_file")[0]


def test_another_password_gives_another_certificate(tmp_path, old_stunnel):
    first = compiled_host(tmp_path / "first", "slave")
    second = compiled_host(tmp_path / "second", "slave", password=WRONG_PASSWORD)
    assert (first / CERTIFICATE).read_text() != (second / CERTIFICATE).read_text()
    assert (first / KEY).read_text() != (second / KEY).read_text()


@pytest.fixture
def prime_searches(monkeypatch):
    """Count the certificate derivations of this process, starting with an empty memory."""
    calls = []
    real = tunnel_certificate._find_prime

    def counted(stream):
        calls.append(1)
        return real(stream)

    monkeypatch.setattr(tunnel_certificate, "_find_prime", counted)
    tunnel_certificate.derive_certificate.cache_clear()
    tunnel_key.derive_psk.cache_clear()
    yield calls
    tunnel_certificate.derive_certificate.cache_clear()


def test_the_certificate_is_derived_once_then_read_from_the_cache(tmp_path, old_stunnel, prime_searches, hotsync):
    host = compiled_host(tmp_path / "host", "master")
    derived = len(prime_searches)
    assert derived >= 2
    files = {name: (host / name).read_bytes() for name in (CERTIFICATE, KEY)}
    tunnel_certificate.derive_certificate.cache_clear()  # as a new process: only the host's cache remembers
    admin(host, "config", "setprop", "hotsync", "SlaveHost", "192.168.1.7", in_process=True)
    outcome = hotsync("--root", host, "compile")
    assert outcome.code == 0
    assert len(prime_searches) == derived
    assert "hotsync-tunnel" not in outcome.out
    assert {name: (host / name).read_bytes() for name in (CERTIFICATE, KEY)} == files


def test_a_cache_made_for_another_password_is_not_used(tmp_path, old_stunnel):
    first = compiled_host(tmp_path / "first", "slave")
    second = tmp_path / "second"
    second.mkdir()
    (second / CACHE).parent.mkdir(parents=True)
    (second / CACHE).write_bytes((first / CACHE).read_bytes())
    compiled_host(second, "slave", password=WRONG_PASSWORD)
    assert (second / CERTIFICATE).read_text() != (first / CERTIFICATE).read_text()
    assert openssl("x509", "-in", str(second / CERTIFICATE), "-noout", "-modulus") == openssl(
        "rsa", "-in", str(second / KEY), "-noout", "-modulus")


# --- this machine's real stunnel in certificate mode


@pytest.fixture
def certificate_pair(make_host):
    """A master and a slave on loopback, both set to certificate mode, their daemons running
    (the builder stops them afterwards). Returns (master, slave, tunnel port)."""

    def make(master_password=PASSWORD, slave_password=PASSWORD):
        tunnel_port = free_port()
        slave = make_host("slave", "slave", password=slave_password, tunnel_port=tunnel_port,
                          rsync_port=free_port()).root
        master = make_host("master", "master", password=master_password, tunnel_port=tunnel_port,
                           rsync_port=free_port()).root
        for host in (slave, master):
            admin(host, "config", "setprop", "hotsync", "TunnelAuth", "certificate")
            admin(host, "signal-event", "nethserver-hotsync-save")
        data = master / "srv/office"
        data.mkdir(parents=True)
        (data / "report.txt").write_text("pushed through the certificate tunnel\n")
        listing = master / "etc/backup-data.d/tests.include"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("/srv/office\n")
        return master, slave, tunnel_port

    return make


def wait_for_log_line(log: Path, text: str, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return True
        time.sleep(0.1)
    return False


def test_a_push_goes_through_the_certificate_tunnel(certificate_pair):
    master, slave, _port = certificate_pair()
    assert "verify = 3" in (slave / "etc/stunnel/stunnel.conf").read_text()
    outcome = run_hotsync("--root", master)
    assert outcome.code == 0, outcome.err
    assert (slave / "srv/office/report.txt").read_text() == "pushed through the certificate tunnel\n"
    assert wait_for_log_line(slave / "var/log/stunnel.log", "Certificate accepted at depth=0: CN=HotSync tunnel")


def test_a_master_with_another_password_is_refused(certificate_pair):
    master, slave, _port = certificate_pair(master_password=WRONG_PASSWORD)
    outcome = run_hotsync("--root", master)
    assert outcome.code == 1
    assert "the slave refused the tunnel: the shared secrets differ" in outcome.err
    assert "this one uses certificates" in outcome.err
    assert not (slave / "srv").exists()
    # The master checks the slave's certificate first, finds another key, and says no more
    # (its rsync password never leaves it).
    assert wait_for_log_line(master / "var/log/stunnel.log", "Rejected by CERT at depth=0")
    assert wait_for_log_line(slave / "var/log/stunnel.log", "alert unknown ca")


def tls_client(port: int, certificate: Path = None, key: Path = None) -> bytes:
    """Connect with TLS 1.2 as a client that trusts anything, presenting ``certificate`` when
    given; what the slave sends first (rsync's greeting once the tunnel lets it through)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    if certificate:
        context.load_cert_chain(str(certificate), str(key))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw) as tls:
            return tls.recv(100)


def test_the_right_certificate_reaches_the_rsync_daemon(certificate_pair):
    master, _slave, port = certificate_pair()
    assert tls_client(port, master / CERTIFICATE, master / KEY).startswith(b"@RSYNCD:")


def test_a_client_without_the_certificate_is_refused(certificate_pair):
    _master, slave, port = certificate_pair()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_client(port)
    assert wait_for_log_line(slave / "var/log/stunnel.log", "peer did not return a certificate")


def test_a_client_with_another_certificate_of_the_same_name_is_refused(certificate_pair, tmp_path):
    _master, slave, port = certificate_pair()
    impostor = tunnel_certificate.derive_certificate(hashlib.sha256(b"not the password").hexdigest())
    (tmp_path / "impostor.pem").write_text(impostor.certificate)
    (tmp_path / "impostor.key").write_text(impostor.key)
    assert "CN = HotSync tunnel" in openssl("x509", "-in", str(tmp_path / "impostor.pem"), "-noout", "-subject")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_client(port, tmp_path / "impostor.pem", tmp_path / "impostor.key")
    assert wait_for_log_line(slave / "var/log/stunnel.log", "certificate verify failed")


def test_a_slave_being_promoted_refuses_the_master_through_its_certificate_fence(certificate_pair):
    master, slave, _port = certificate_pair()
    admin(slave, "config", "setprop", "hotsync", "PromotionStarted", str(int(time.time())))
    admin(slave, "signal-event", "nethserver-hotsync-save")
    assert "[hotsync-fence]" in (slave / "etc/stunnel/stunnel.conf").read_text()
    outcome = run_hotsync("--root", master)
    assert outcome.code == 1
    assert "HotSync refused this push: the receiving host is being promoted to master" in outcome.err, outcome.err
    assert not (slave / "srv").exists()


def test_a_master_reaches_an_ipv6_slave_and_presents_the_certificate(tmp_path):
    """stunnel takes an IPv6 address bare in 'connect' (it splits at the last ':'); a slave
    stand-in on ::1 that trusts only the derived certificate sees the master present it."""
    import threading

    port = free_port()
    master = tmp_path / "master"
    Host(master, tunnel_port=port, rsync_port=free_port()).configure("master", peer="::1", password=PASSWORD)
    admin(master, "config", "setprop", "hotsync", "TunnelAuth", "certificate")
    admin(master, "compile", "--quiet")
    assert f"connect = ::1:{port}" in (master / "etc/stunnel/stunnel.conf").read_text().splitlines()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(master / CERTIFICATE), str(master / KEY))
    context.load_verify_locations(str(master / CERTIFICATE))
    context.verify_mode = ssl.CERT_REQUIRED
    presented = []
    listener = socket.socket(socket.AF_INET6)
    listener.bind(("::1", port))
    listener.listen(1)
    listener.settimeout(20)

    def answer_once():
        connection, _address = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls:
            presented.append(tls.getpeercert(binary_form=True))

    thread = threading.Thread(target=answer_once)
    thread.start()
    try:
        admin(master, "services", "start", "stunnel")
        run_hotsync("--root", master)  # fails after the handshake: the stand-in speaks no rsync
        thread.join(30)
    finally:
        run_hotsync("--root", master, "services", "stop")
        listener.close()
    assert presented == [ssl.PEM_cert_to_DER_cert((master / CERTIFICATE).read_text())]


def test_the_private_key_never_shows_in_what_compile_prints(tmp_path, old_stunnel):
    host = tmp_path / "host"
    Host(host).configure("slave", peer="192.168.1.1", in_process=True)
    shown = run_hotsync("--root", host, "compile", "--diff")
    assert shown.code == 0, shown.err
    key_lines = [line for line in (host / KEY).read_text().splitlines() if not line.startswith("-----")]
    assert "(secret file created; content not shown)" in shown.out
    assert "PRIVATE KEY" not in shown.out + shown.err
    assert not any(line in shown.out for line in key_lines)
