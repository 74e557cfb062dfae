"""Failure mail through a real SMTP server (aiosmtpd on loopback)."""

import email
import email.policy

import pytest
from support.hosts import free_port
from support.passwords import PASSWORD, WRONG_PASSWORD

from hotsync.runtime.lock import hold_sync_lock
from hotsync.runtime.notify import build_failure_mail, send_failure_mail, smtp_server


def test_the_smtp_server_defaults_to_the_local_one(monkeypatch):
    monkeypatch.delenv("HOTSYNC_SMTP_SERVER", raising=False)
    assert smtp_server() == ("localhost", 25)
    monkeypatch.setenv("HOTSYNC_SMTP_SERVER", "relay.example:2525")
    assert smtp_server() == ("relay.example", 2525)


def test_the_mail_lists_every_error():
    message = build_failure_mail("admin@example.com", "10.0.0.2", ["dump failed", "rsync failed"], "2026-01-01T00:00")
    assert message["To"] == "admin@example.com"
    assert "10.0.0.2" in message["Subject"]
    assert "  - dump failed\n  - rsync failed\n" in message.get_content()


def test_an_unreachable_smtp_server_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("HOTSYNC_SMTP_SERVER", f"127.0.0.1:{free_port()}")
    problem = send_failure_mail("admin@example.com", "slave", ["x"], "now")
    assert problem.startswith("could not mail admin@example.com through 127.0.0.1:")


@pytest.mark.e2e
def test_a_failed_sync_mails_the_admin_and_a_good_or_overlapping_one_does_not(host_pair, hotsync, mailbox):
    pair = host_pair
    pair.change_master_plan(notify="admin@example.com")
    assert pair.sync(in_process=True).code == 0
    assert mailbox.messages == []

    pair.on_master("/etc/hotsync/rsync.password").write_text(f"{WRONG_PASSWORD}\n")
    assert pair.sync(in_process=True).code == 1
    (recipients, content), = mailbox.messages
    assert recipients == ["admin@example.com"]
    assert "Subject: HotSync failed on" in content
    text = email.message_from_string(content, policy=email.policy.default).get_content()
    assert "the slave refused the rsync password" in text and "auth failed" in text
    assert PASSWORD not in content and WRONG_PASSWORD not in content

    with hold_sync_lock(pair.master_root):
        assert pair.sync(in_process=True).code == 0
    assert len(mailbox.messages) == 1, "an overlapping run never mails"
