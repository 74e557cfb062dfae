"""The admin's story with events: signal one, every handler runs in order, the log tells what happened."""

import re
import socket
import sysconfig
from pathlib import Path

from support.hosts import free_port

from hotsync.host import host_for
from hotsync.nethserver.events import plan_event, run_event
from hotsync.root import Root

EVENT = "nethserver-hotsync-save"


def event_folder(root: Path, event: str = EVENT) -> Path:
    folder = root / "etc/e-smith/events" / event
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def add_handler(folder: Path, name: str, body: str, executable: bool = True) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755 if executable else 0o644)
    return path


def add_recording_handler(folder: Path, name: str, order_file: Path, exit_code: int = 0) -> Path:
    """A handler that appends its own name to ``order_file`` and exits with ``exit_code``."""
    return add_handler(folder, name, f'echo "{name}" >> "{order_file}"\nexit {exit_code}')


def log_lines(root: Path) -> list:
    return (root / "var/log/hotsync-events.log").read_text().splitlines()


def logged_step_names(root: Path) -> list:
    return [line.split()[2].rstrip(":") for line in log_lines(root) if not line.startswith(" ")]


def test_handlers_run_in_name_order_and_others_are_skipped(hotsync, sandbox, tmp_path):
    folder = event_folder(sandbox)
    order = tmp_path / "order"
    for name in ("S70role-action", "S00defaults", "S89firewall", "S10first"):
        add_recording_handler(folder, name, order)
    add_handler(folder, "S50not-executable", f'echo S50 >> "{order}"', executable=False)
    (folder / "S60a-folder").mkdir()

    outcome = hotsync("--root", sandbox, "signal-event", EVENT)

    assert (outcome.code, outcome.out, outcome.err) == (0, "", "")
    assert order.read_text().split() == ["S00defaults", "S10first", "S70role-action", "S89firewall"]


def test_a_handler_gets_the_event_its_arguments_the_root_and_hotsync_on_its_path(hotsync, sandbox, tmp_path):
    seen = tmp_path / "seen"
    add_handler(event_folder(sandbox), "S10show", f'''
printf '%s\\n' "$1" "$2" "$3" "$HOTSYNC_ROOT" "$(pwd)" "$(command -v hotsync)" > "{seen}"
''')

    outcome = hotsync("--root", sandbox, "signal-event", EVENT, "stunnel", "--flag")

    assert outcome.code == 0, outcome.err
    assert seen.read_text().splitlines() == [
        EVENT, "stunnel", "--flag", str(sandbox), "/", str(Path(sysconfig.get_path("scripts")) / "hotsync"),
    ]


def test_a_failing_handler_fails_the_event_but_later_ones_still_run(hotsync, sandbox, tmp_path):
    folder = event_folder(sandbox)
    order = tmp_path / "order"
    add_recording_handler(folder, "S10first", order)
    add_recording_handler(folder, "S50broken", order, exit_code=3)
    add_recording_handler(folder, "S60also-broken", order, exit_code=1)
    add_recording_handler(folder, "S95last", order)

    outcome = hotsync("--root", sandbox, "signal-event", EVENT)

    assert outcome.code == 1
    assert order.read_text().split() == ["S10first", "S50broken", "S60also-broken", "S95last"]
    assert outcome.err.count("\n") == 1
    assert f"event {EVENT} failed: S50broken, S60also-broken" in outcome.err
    assert str(sandbox / "var/log/hotsync-events.log") in outcome.err
    assert any(line.endswith("s") and "S50broken: failed (exit 3)" in line for line in log_lines(sandbox))


def test_a_handler_that_cannot_be_executed_is_a_failure_not_a_crash(hotsync, sandbox, tmp_path):
    folder = event_folder(sandbox)
    order = tmp_path / "order"
    broken = folder / "S10no-interpreter"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    add_recording_handler(folder, "S20next", order)

    outcome = hotsync("--root", sandbox, "signal-event", EVENT)

    assert outcome.code == 1
    assert "S10no-interpreter" in outcome.err and "Traceback" not in outcome.err
    assert order.read_text().split() == ["S20next"]


def test_each_step_is_logged_with_its_time_verdict_and_indented_output(hotsync, sandbox):
    folder = event_folder(sandbox)
    add_handler(folder, "S10talk", "echo 'first line'\necho 'to stderr' >&2")
    add_handler(folder, "S20fail", "echo 'why it failed'\nexit 2")

    hotsync("--root", sandbox, "signal-event", EVENT)
    hotsync("--root", sandbox, "signal-event", EVENT)

    lines = log_lines(sandbox)
    header = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d " + EVENT + r" (S\w+): (ok|failed \(exit 2\)) \d+\.\d\ds$")
    assert header.match(lines[0]) and header.match(lines[0]).group(1, 2) == ("S10talk", "ok")
    assert lines[1:3] == ["    first line", "    to stderr"]
    assert header.match(lines[3]).group(1, 2) == ("S20fail", "failed (exit 2)")
    assert lines[4] == "    why it failed"
    assert len(lines) == 10, "the second run appends"


def test_a_handler_that_outlives_its_time_is_stopped_and_counted_failed(sandbox, tmp_path):
    folder = event_folder(sandbox)
    order = tmp_path / "order"
    add_handler(folder, "S10hang", "exec sleep 30")
    add_recording_handler(folder, "S20next", order)

    result = run_event(Root(sandbox), EVENT, timeout=0.5)

    assert result.failed_steps == ["S10hang"]
    assert result.steps[0].verdict() == "timed out" and result.steps[0].seconds < 10
    assert order.read_text().split() == ["S20next"]
    assert "S10hang: timed out" in log_lines(sandbox)[0]


def add_template_action(root: Path, body: str) -> Path:
    """NethServer's template expansion action, as a stand-in script under ``root``."""
    actions = root / "etc/e-smith/events/actions"
    actions.mkdir(parents=True, exist_ok=True)
    return add_handler(actions, "generic_template_expand", body)


def test_generic_steps_sort_at_s05_and_s90_among_the_handlers(sandbox, tmp_path):
    folder = event_folder(sandbox)
    order = tmp_path / "order"
    for name in ("S00defaults", "S10after-templates", "S89firewall", "S95after-services"):
        add_recording_handler(folder, name, order)
    add_template_action(sandbox, f'echo S05generic_template_expand >> "{order}"')
    (folder / "templates2expand").mkdir()
    (folder / "services2adjust").mkdir()  # empty: the step runs and has nothing to do

    result = run_event(Root(sandbox), EVENT)

    assert result.ok
    expected = ["S00defaults", "S05generic_template_expand", "S10after-templates", "S89firewall",
                "S90adjust-services", "S95after-services"]
    assert [step.name for step in result.steps] == expected
    assert logged_step_names(sandbox) == expected
    assert order.read_text().split() == [name for name in expected if name != "S90adjust-services"]


def test_without_the_marker_folders_there_are_no_generic_steps(sandbox, tmp_path):
    add_recording_handler(event_folder(sandbox), "S10only", tmp_path / "order")

    assert [step.name for step in plan_event(Root(sandbox), EVENT)] == ["S10only"]


def test_template_expansion_is_the_platforms_action_called_with_the_event(sandbox):
    (event_folder(sandbox) / "templates2expand").mkdir()

    [step] = plan_event(Root(sandbox), EVENT, ["an-argument"])

    assert step.name == "S05generic_template_expand"
    assert step.argv == (str(sandbox / "etc/e-smith/events/actions/generic_template_expand"), EVENT, "an-argument")


def test_a_failing_template_expansion_fails_the_event(sandbox):
    add_template_action(sandbox, "echo 'ERROR: No templates were found' >&2; exit 1")
    (event_folder(sandbox) / "templates2expand").mkdir()

    result = run_event(Root(sandbox), EVENT)

    assert result.failed_steps == ["S05generic_template_expand"]
    assert "    ERROR: No templates were found" in log_lines(sandbox)


def test_template_expansion_without_the_platforms_action_fails_with_its_path(sandbox):
    (event_folder(sandbox) / "templates2expand").mkdir()

    result = run_event(Root(sandbox), EVENT)

    assert result.failed_steps == ["S05generic_template_expand"]
    action = sandbox / "etc/e-smith/events/actions/generic_template_expand"
    assert f"    program not found: {action}" in log_lines(sandbox)


def test_unknown_event_is_an_error(hotsync, sandbox):
    outcome = hotsync("--root", sandbox, "signal-event", "no-such-event")

    assert outcome.code == 1
    assert "unknown event 'no-such-event'" in outcome.err
    assert hotsync("--root", sandbox, "signal-event", "../etc").code == 1
    assert hotsync("--root", sandbox, "signal-event").code == 2


# ------------------------------------------------------------------ S90 with the real rsync daemon


def write_configuration(root: Path, text: str) -> None:
    database = root / "var/lib/nethserver/db/configuration"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_text(text)


def write_rsyncd_config(root: Path) -> int:
    port = free_port()
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/rsyncd.conf").write_text(
        f"pid file = {root / 'var/run/rsyncd.pid'}\nport = {port}\naddress = 127.0.0.1\nuse chroot = no\n"
        f"[data]\npath = {root}\nread only = yes\n"
    )
    return port


def adjust_on_event(root: Path, **actions: str) -> None:
    """Name services in the event's services2adjust folder, each with its action file's text."""
    services = event_folder(root) / "services2adjust"
    services.mkdir()
    for service, action in actions.items():
        (services / service).write_text(action)


def test_service_adjustment_starts_enabled_and_stops_disabled_services(hotsync, host):
    port = write_rsyncd_config(host)
    write_configuration(host, "rsyncd=service|status|enabled\nstunnel=service|access|green|status|disabled\n")
    adjust_on_event(host, rsyncd="restart\n", stunnel="")

    outcome = hotsync("--root", host, "signal-event", EVENT)

    assert outcome.code == 0, outcome.err
    status = host_for(Root(host)).service_status("rsyncd")
    assert status.running
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert not host_for(Root(host)).service_status("stunnel").running
    lines = log_lines(host)
    assert "S90adjust-services: ok" in lines[0]
    assert lines[1:] == [f"    rsyncd: running (pid {status.pid})", "    stunnel: stopped"]


def test_service_adjustment_that_cannot_start_a_service_fails_the_event(hotsync, host):
    write_configuration(host, "stunnel=service|status|enabled\n")
    adjust_on_event(host, stunnel="restart\n")

    outcome = hotsync("--root", host, "signal-event", EVENT)

    assert outcome.code == 1
    assert "S90adjust-services" in outcome.err
    assert any("stunnel: configuration file" in line for line in log_lines(host))


def test_an_odd_service_record_fails_the_service_step(hotsync, host):
    # what NethServer's 'config setprop rsyncd password ab|cd' leaves: every later field shifted
    write_configuration(host, "rsyncd=service|password|ab|cd|status|enabled\n")
    adjust_on_event(host, rsyncd="restart\n")

    outcome = hotsync("--root", host, "signal-event", EVENT)

    assert outcome.code == 1
    assert "S90adjust-services" in outcome.err
    assert "Traceback" not in outcome.err
    assert not host_for(Root(host)).service_status("rsyncd").running
    assert any("configuration:1: error: record 'rsyncd' has a property without a value" in line
               for line in log_lines(host))
