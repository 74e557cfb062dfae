"""A failed push says why, one cause at a time, with real stunnel and rsync: the same words on
the terminal, in ``hotsync status`` and in the mail; a dry run that reached nobody says so."""

import json
import socket

import pytest
from support.runner import run_hotsync

pytestmark = pytest.mark.e2e


def push(pair):
    return run_hotsync("--root", pair.master.root, in_process=True)


def tunnel_port(pair):
    return pair.master_plan().transport.tunnel_port


def last_errors(pair):
    report = json.loads(run_hotsync("--root", pair.master.root, "status", "--json", in_process=True).out)
    return report["last_errors"]


def stop_slave_tunnel(pair):
    assert run_hotsync("--root", pair.slave.root, "services", "stop", "stunnel", in_process=True).code == 0


def test_a_slave_whose_tunnel_is_not_running_is_named_with_what_to_start(host_pair, mailbox):
    pair = host_pair
    pair.change_master_plan(notify="admin@example.com")
    stop_slave_tunnel(pair)
    dry = run_hotsync("--root", pair.master.root, "sync", "--dry-run", in_process=True)
    assert dry.code == 1
    assert "0 change(s)" not in dry.out
    assert dry.out.startswith("dry run: the slave could not be asked what would change")
    outcome = push(pair)
    assert outcome.code == 1
    expected = (f"the slave 127.0.0.1 refuses connections on port {tunnel_port(pair)}: its tunnel is not running "
                "(start it there with 'hotsync services start'")
    assert outcome.err.startswith(f"hotsync: {expected}")
    (error,) = last_errors(pair)
    assert error.startswith(expected) and error in outcome.err
    (_recipients, mail), = mailbox.messages
    assert "refuses connections on port" in mail


def test_a_port_that_drops_packets_is_a_slave_that_does_not_answer(host_pair):
    pair = host_pair
    stop_slave_tunnel(pair)
    port = tunnel_port(pair)
    # A listener whose queue is full: the kernel drops every further SYN, as a firewall's DROP does.
    with socket.socket() as full:
        full.bind(("127.0.0.1", port))
        full.listen(0)
        waiting = [socket.create_connection(("127.0.0.1", port), timeout=5)]  # fills the queue of one
        try:
            outcome = push(pair)
        finally:
            for connection in waiting:
                connection.close()
    assert outcome.code == 1
    assert outcome.err.startswith(f"hotsync: the slave 127.0.0.1 does not answer on port {port} "
                                  f"(is it on? is {port} open in its firewall?)")


def test_different_shared_secrets_are_named_with_how_to_copy_the_password(host_pair):
    pair = host_pair
    psk = pair.on_slave("/etc/stunnel/hotsync.psk")
    identity, _, key = psk.read_text().strip().partition(":")
    psk.write_text(f"{identity}:{'0' * len(key)}\n")  # the slave's tunnel key from another password
    assert run_hotsync("--root", pair.slave.root, "services", "restart", "stunnel", in_process=True).code == 0
    outcome = push(pair)
    assert outcome.code == 1
    assert outcome.err.startswith("hotsync: the slave refused the tunnel: the shared secrets differ. Copy the "
                                  "password from one host to the other ('config getprop rsyncd password' there")
    assert not pair.on_slave("/srv").exists()


def test_a_slave_without_the_module_is_named_as_no_slave_any_more(host_pair):
    pair = host_pair
    conf = pair.on_slave("/etc/rsyncd.conf")
    conf.write_text(conf.read_text().replace("[hotsync]", "[not-hotsync]"))  # the daemon reads it per connection
    outcome = push(pair)
    assert outcome.code == 1
    assert outcome.err.startswith("hotsync: the slave 127.0.0.1 takes no push: it is not a HotSync slave any more")


def test_this_hosts_own_tunnel_client_not_running_is_named(host_pair):
    pair = host_pair
    assert run_hotsync("--root", pair.master.root, "services", "stop", "stunnel", in_process=True).code == 0
    outcome = push(pair)
    assert outcome.code == 1
    rsync_port = pair.master_plan().transport.rsync_port
    assert outcome.err.startswith(f"hotsync: this host's tunnel client (stunnel) does not listen on "
                                  f"127.0.0.1:{rsync_port}: start it with 'hotsync services start stunnel'")


def test_a_wrong_rsync_password_behind_a_good_tunnel_is_named(host_pair):
    pair = host_pair
    pair.on_master("/etc/hotsync/rsync.password").write_text("another-password-here\n")
    outcome = push(pair)
    assert outcome.code == 1
    assert outcome.err.startswith("hotsync: the slave refused the rsync password: set the same rsyncd password on "
                                  "both hosts")
    assert "another-password-here" not in outcome.err
