"""The command line contract: help, unknown commands, roots."""

from support.runner import run_hotsync

from hotsync.root import resolve_root


def test_help_lists_every_command(hotsync):
    outcome = hotsync("--help")
    assert outcome.code == 0
    for word in ("install", "config", "signal-event", "compile", "sync", "status"):
        assert f"  {word} " in outcome.out


def test_unknown_command_is_a_usage_error(hotsync):
    outcome = hotsync("frobnicate")
    assert outcome.code == 2
    assert outcome.err.strip() == "hotsync: unknown command 'frobnicate' (try 'hotsync --help')"


def test_root_option_needs_a_directory(hotsync):
    outcome = hotsync("--root")
    assert outcome.code == 2
    assert "--root needs a directory" in outcome.err


def test_root_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOTSYNC_ROOT", str(tmp_path))
    root = resolve_root(None)
    assert root.path("/etc/hotsync.conf") == tmp_path / "etc" / "hotsync.conf"
    assert root.is_sandbox


def test_root_option_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOTSYNC_ROOT", "/nonexistent-elsewhere")
    assert resolve_root(str(tmp_path)).base == tmp_path


def test_installed_console_script_runs():
    outcome = run_hotsync("--version")
    assert outcome.code == 0
    assert outcome.out.startswith("hotsync ")


def test_output_to_a_pipe_arrives_whole():
    """The console scripts end without Python's teardown: their buffered output is flushed first."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "hotsync"
    whole = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert whole.returncode == 0 and whole.stdout.rstrip().endswith("for a command's own options.")
