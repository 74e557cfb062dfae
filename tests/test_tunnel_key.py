"""The tunnel's key: a slow derivation of the shared password (PBKDF2-HMAC-SHA256, 600,000
rounds), worked out only when the password changes, and a warning for a short password."""

import json

import pytest
from support.hosts import Host
from support.passwords import PASSWORD, WRONG_PASSWORD, pbkdf2_key
from support.runner import admin, run_hotsync
from support.trees import tree_digest

from hotsync.compiler import tunnel_key

PSK_FILE = "etc/stunnel/hotsync.psk"
CACHE_FILE = "var/lib/nethserver/hotsync/tunnel-key.json"


def configured_host(root, role="slave", password=PASSWORD):
    """An installed host with a role and ``password``, not compiled yet (nothing started)."""
    return Host(root).configure(role, peer="192.168.1.1", password=password, in_process=True).root


@pytest.fixture
def derivations(monkeypatch):
    """Count the slow derivations this process makes, starting with an empty memory."""
    calls = []
    real = tunnel_key.hashlib.pbkdf2_hmac

    def counted(*arguments, **keywords):
        calls.append(arguments[0])
        return real(*arguments, **keywords)

    monkeypatch.setattr(tunnel_key.hashlib, "pbkdf2_hmac", counted)
    tunnel_key.derive_psk.cache_clear()
    yield calls
    tunnel_key.derive_psk.cache_clear()


def test_both_hosts_derive_the_same_slow_key_from_the_password(tmp_path):
    master, slave = configured_host(tmp_path / "master", "master"), configured_host(tmp_path / "slave", "slave")
    for host in (master, slave):
        admin(host, "compile", "--quiet", in_process=True)
    expected = f"hotsync:{pbkdf2_key(PASSWORD)}\n"
    assert (master / PSK_FILE).read_text() == (slave / PSK_FILE).read_text() == expected


def test_a_second_compile_with_the_same_password_derives_nothing(sandbox, hotsync, derivations):
    configured_host(sandbox)
    assert hotsync("--root", sandbox, "compile", "--quiet").code == 0
    assert len(derivations) == 1
    key = (sandbox / PSK_FILE).read_text()
    tunnel_key.derive_psk.cache_clear()  # as a new process: only the host's cache remembers
    admin(sandbox, "config", "setprop", "hotsync", "MasterHost", "192.168.1.7", in_process=True)
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 0
    assert len(derivations) == 1
    assert "/etc/stunnel/hotsync.psk" not in outcome.out
    assert (sandbox / PSK_FILE).read_text() == key


def test_a_changed_password_changes_the_key(sandbox, hotsync, derivations):
    configured_host(sandbox)
    admin(sandbox, "compile", "--quiet", in_process=True)
    admin(sandbox, "config", "setprop", "rsyncd", "password", WRONG_PASSWORD, in_process=True)
    tunnel_key.derive_psk.cache_clear()
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 0
    assert "updated: /etc/stunnel/hotsync.psk" in outcome.out
    assert len(derivations) == 2
    assert (sandbox / PSK_FILE).read_text() == f"hotsync:{pbkdf2_key(WRONG_PASSWORD)}\n"


def test_the_cache_is_root_only_holds_no_password_and_check_never_writes_it(sandbox):
    configured_host(sandbox)
    before = tree_digest(sandbox)
    outcome = run_hotsync("--root", sandbox, "compile", "--check")
    assert outcome.code == 0
    assert f"would create: /{CACHE_FILE}" in outcome.out.splitlines()
    assert tree_digest(sandbox) == before
    admin(sandbox, "compile", "--quiet", in_process=True)
    cache = sandbox / CACHE_FILE
    assert cache.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in cache.read_text()
    assert json.loads(cache.read_text())["psk"] == pbkdf2_key(PASSWORD)


@pytest.mark.parametrize("tamper", [
    lambda data: {**data, "psk": "0" * 64},  # a key of someone's choosing
    lambda data: {**data, "iterations": 1},  # a derivation of another version
    lambda data: {**data, "fingerprint": "é" * 64},
    lambda data: ["not", "an", "object"],
])
def test_a_cache_that_does_not_match_the_password_is_not_trusted(sandbox, hotsync, derivations, tamper):
    configured_host(sandbox)
    admin(sandbox, "compile", "--quiet", in_process=True)
    cache = sandbox / CACHE_FILE
    cache.write_text(json.dumps(tamper(json.loads(cache.read_text()))))
    tunnel_key.derive_psk.cache_clear()
    assert hotsync("--root", sandbox, "compile", "--quiet").code == 0
    assert (sandbox / PSK_FILE).read_text() == f"hotsync:{pbkdf2_key(PASSWORD)}\n"
    assert json.loads(cache.read_text())["psk"] == pbkdf2_key(PASSWORD)


def test_a_cache_made_for_another_password_is_not_used(tmp_path, hotsync):
    first = configured_host(tmp_path / "first", password="the-first-long-shared-secret")
    second = configured_host(tmp_path / "second", password="the-second-long-shared-secret")
    admin(first, "compile", "--quiet", in_process=True)
    (second / CACHE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (second / CACHE_FILE).write_bytes((first / CACHE_FILE).read_bytes())
    tunnel_key.derive_psk.cache_clear()
    assert hotsync("--root", second, "compile", "--quiet").code == 0
    assert (second / PSK_FILE).read_text() == f"hotsync:{pbkdf2_key('the-second-long-shared-secret')}\n"


SHORT_PASSWORD_WARNING = (
    "configuration:rsyncd.password: warning: the password is shorter than 20 characters: whoever records one "
    "connection of the tunnel can try guesses at it offline; use a long random one on both hosts ('hotsync "
    "install' generates one)")


def test_check_warns_about_a_short_hand_set_password_and_still_succeeds(sandbox):
    configured_host(sandbox, password="Summer2024!x")
    outcome = run_hotsync("--root", sandbox, "compile", "--check")
    assert outcome.code == 0
    assert outcome.err == SHORT_PASSWORD_WARNING + "\n"
    assert "would create: /etc/stunnel/hotsync.psk" in outcome.out
    report = json.loads(run_hotsync("--root", sandbox, "compile", "--check", "--json").out)
    assert report["valid"] is True
    assert report["diagnostics"] == [{
        "file": "configuration:rsyncd.password", "line": 0, "column": 0, "severity": "warning",
        "message": SHORT_PASSWORD_WARNING.split(": warning: ", 1)[1],
    }]


def test_an_error_report_shows_the_warning_too_but_counts_only_errors(sandbox):
    configured_host(sandbox, password="Summer2024!x")
    admin(sandbox, "config", "setprop", "hotsync", "MasterHost", "", in_process=True)
    outcome = run_hotsync("--root", sandbox, "compile", "--check")
    assert outcome.code == 1
    assert outcome.err.splitlines() == [
        "configuration:hotsync.MasterHost: error: this host is a slave but has no master host: run "
        "'config setprop hotsync MasterHost ADDRESS'",
        SHORT_PASSWORD_WARNING,
        "hotsync: 1 error; nothing was written",
    ]


def test_the_password_install_generates_draws_no_warning(sandbox):
    admin(sandbox, "install", "--quiet", in_process=True)
    admin(sandbox, "config", "setprop", "hotsync", "role", "slave", "MasterHost", "192.168.1.1", in_process=True)
    outcome = run_hotsync("--root", sandbox, "compile", "--check")
    assert outcome.code == 0
    assert outcome.err == ""
    generated = run_hotsync("--root", sandbox, "config", "getprop", "rsyncd", "password").out.strip()
    assert len(generated) >= 20
