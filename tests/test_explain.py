"""``hotsync explain``: the verdict on a path and its reasons, with the rule text's origins.

A sandbox master with the shipped main rule file and one site rule file written here, so
each FILE:LINE:COL below can be checked by counting in SITE_RULES.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from hotsync.explain import ListEntry, covers, first_blocking, pattern_matches
from hotsync.resources import shipped_folder

SITE_FILE = "/etc/hotsync/rules.d/site.hs"
SITE_RULES = """\
rule site {
    include /srv/data/ /srv/keep /var/log/app.log /etc/
    exclude /srv/data/cache/
    unexclude /srv/keep
}

package nethserver-foo {
    include /srv/foo
}

rule flagged {
    when exists /srv/flag include /srv/flagged
}
"""
EXCLUDE_LIST = "/etc/backup-data.d/app.exclude"


@pytest.fixture
def master(sandbox, hotsync):
    """A compiled sandbox master using SITE_RULES, with a list file excluding /srv/keep and *.tmp."""
    rules = sandbox / "etc/hotsync"
    (rules / "rules.d").mkdir(parents=True)
    shutil.copy(shipped_folder("grammar") / "rules" / "hotsync.hs", rules / "hotsync.hs")
    (sandbox / SITE_FILE.lstrip("/")).write_text(SITE_RULES)
    _write(sandbox, EXCLUDE_LIST, "# kept out by the app's backup\n/srv/keep\n*.tmp\n")
    _write(sandbox, "/srv/data/report.txt", "data\n")
    assert hotsync("--root", sandbox, "config", "set", "hotsync", "configuration", "role", "master", "SlaveHost", "10.0.0.2").code == 0
    assert hotsync("--root", sandbox, "config", "set", "rsyncd", "service", "password", "longenoughsecret").code == 0
    compiled = hotsync("--root", sandbox, "compile", "--quiet")
    assert compiled.code == 0, compiled.err
    return sandbox


def _write(base: Path, host_path: str, text: str) -> None:
    target = base / host_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def explain(hotsync, root, *arguments):
    outcome = hotsync("--root", root, "explain", *arguments)
    assert outcome.code == 0, outcome.err
    return outcome.out


# --- one path ---------------------------------------------------------------------------


def test_an_included_path_names_the_rule_and_its_line(master, hotsync):
    out = explain(hotsync, master, "/srv/data/report.txt")
    assert out.splitlines()[0] == "/srv/data/report.txt: synced"
    assert f"included by /srv/data/ (rule site, {SITE_FILE}:2:13)" in out


def test_an_excluded_path_names_the_exclusion(master, hotsync):
    out = explain(hotsync, master, "/srv/data/cache/page.html")
    assert out.splitlines()[0] == "/srv/data/cache/page.html: not synced"
    assert f"but excluded by /srv/data/cache/ at /srv/data/cache (rule site, {SITE_FILE}:3:13)" in out


def test_a_list_file_exclusion_names_the_file_and_line(master, hotsync):
    out = explain(hotsync, master, "/srv/data/build.tmp")
    assert "not synced" in out.splitlines()[0]
    assert f"excluded by *.tmp (rule base, {EXCLUDE_LIST}:3 via /etc/hotsync/hotsync.hs:" in out


def test_a_withdrawn_exclusion_names_the_unexclude(master, hotsync):
    out = explain(hotsync, master, "/srv/keep")
    assert out.splitlines()[0] == "/srv/keep: synced"
    assert f"included by /srv/keep (rule site, {SITE_FILE}:2:24)" in out
    assert (f"the exclusion /srv/keep (rule base, {EXCLUDE_LIST}:2 via /etc/hotsync/hotsync.hs:" in out
            and f"is withdrawn by unexclude /srv/keep (rule site, {SITE_FILE}:4:15)" in out)


def test_a_path_of_a_package_that_is_not_installed_names_the_condition(master, hotsync):
    out = explain(hotsync, master, "/srv/foo/readme")
    assert out.splitlines()[0] == "/srv/foo/readme: not synced"
    assert "no active rule includes it" in out
    assert (f"rule nethserver-foo would include it by /srv/foo ({SITE_FILE}:8:13) but is inactive, "
            f"condition false now: installed nethserver-foo ({SITE_FILE}:7:9)") in out


def test_installing_the_package_makes_its_rule_active(master, hotsync):
    _write(master, "/var/lib/hotsync/sandbox-packages", "nethserver-foo 1.0\n")
    out = explain(hotsync, master, "/srv/foo/readme")
    assert out.splitlines()[0] == "/srv/foo/readme: synced"
    assert f"included by /srv/foo (rule nethserver-foo, {SITE_FILE}:8:13)" in out


def test_a_rule_waiting_for_a_path_names_the_exists_condition(master, hotsync):
    out = explain(hotsync, master, "/srv/flagged")
    assert "not synced" in out.splitlines()[0]
    assert f"condition false now: exists /srv/flag ({SITE_FILE}:12:10)" in out
    _write(master, "/srv/flag", "on\n")
    assert explain(hotsync, master, "/srv/flagged").splitlines()[0] == "/srv/flagged: synced"


def test_an_excluded_folder_does_not_hide_a_file_the_list_names(master, hotsync):
    out = explain(hotsync, master, "/var/log/app.log")
    assert out.splitlines()[0] == "/var/log/app.log: synced"
    assert "not synced" in explain(hotsync, master, "/var/log/messages").splitlines()[0]


def test_built_in_excludes_cannot_be_escaped(master, hotsync):
    out = explain(hotsync, master, "/etc/stunnel/stunnel.conf")
    assert out.splitlines()[0] == "/etc/stunnel/stunnel.conf: not synced"
    assert "excluded by /etc/stunnel/ at /etc/stunnel (built-in: always excluded" in out


def test_a_missing_path_is_flagged(master, hotsync):
    out = explain(hotsync, master, "/srv/data/later.txt")
    assert "synced" in out.splitlines()[0]
    assert "does not exist on this host now" in out


def test_plugins_are_named_as_a_caveat(master, hotsync):
    plugin = master / "etc/hotsync.d/custom"
    _write(master, "/etc/hotsync.d/custom", "#!/bin/sh\n")
    plugin.chmod(0o755)
    assert "may still change the lists at sync time: custom" in explain(hotsync, master, "/srv/keep")


# --- the whole lists --------------------------------------------------------------------


def test_all_prints_the_lists_with_origins(master, hotsync):
    out = explain(hotsync, master, "--all")
    includes = out.split("excludes")[0]
    assert f"/srv/data/ rule site, {SITE_FILE}:2:13" in _squeezed(includes)
    assert "/var/lib/nethserver/backup/backup-config.tar.xz" in includes
    excludes = out.split("excludes (")[1].split("withdrawn excludes")[0]
    assert f"/srv/data/cache/ rule site, {SITE_FILE}:3:13" in _squeezed(excludes)
    assert "/etc/stunnel/ built-in:" in _squeezed(excludes)
    withdrawn = out.split("withdrawn excludes (1):")[1].split("inactive rules")[0]
    assert f"withdrawn by unexclude /srv/keep (rule site, {SITE_FILE}:4:15)" in withdrawn
    inactive = out.split("inactive rules (")[1]
    assert f"nethserver-foo {SITE_FILE}:7:9: condition false now: installed nethserver-foo" in _squeezed(inactive)
    assert f"flagged {SITE_FILE}:11:6: condition false now: exists /srv/flag ({SITE_FILE}:12:10)" in _squeezed(inactive)


def _squeezed(text: str) -> str:
    return " ".join(text.split())


# --- errors -----------------------------------------------------------------------------


def test_without_a_plan_it_says_what_to_run(sandbox, hotsync):
    outcome = hotsync("--root", sandbox, "explain", "/etc")
    assert outcome.code == 1
    assert "no compiled plan" in outcome.err and "Traceback" not in outcome.err


@pytest.mark.parametrize("arguments", [(), ("relative/path",), ("/srv/../etc",), ("/srv", "--all")])
def test_bad_arguments_are_usage_errors(master, hotsync, arguments):
    outcome = hotsync("--root", master, "explain", *arguments)
    assert outcome.code == 2
    assert outcome.err.startswith("hotsync: ") and "Traceback" not in outcome.err


def test_no_file_the_compiler_generates_is_ever_pushed(master, hotsync):
    from hotsync.compiler.render import OUTPUT_FILES

    for path, _template, _mode in OUTPUT_FILES:
        text = hotsync("--root", master, "explain", path).out
        assert text.startswith(f"{path}: not synced\n") and "(built-in: always excluded" in text, text


@pytest.mark.parametrize("path, problem", [
    ("var/lib/mail", "is relative: write it from the root, starting with '/'"),
    ("/etc/../root/.ssh", "contains '..': write it without going up"),
])
def test_a_path_is_refused_in_the_words_the_rule_files_use(master, hotsync, path, problem):
    # the same words as tests/data/failing/relative_path.hs and dotdot_path.hs expect
    outcome = hotsync("--root", master, "explain", path)
    assert (outcome.code, outcome.err) == (2, f"hotsync: hotsync explain: path '{path}' {problem}\n")


# --- the matching model agrees with rsync ----------------------------------------------


@pytest.mark.parametrize("pattern, path, is_directory, matches", [
    ("/var/log/", "/var/log", True, True),
    ("/var/log/", "/var/log", False, False),
    ("/var/log/", "/var/log/messages", False, False),
    ("*.tmp", "/srv/a/b.tmp", False, True),
    ("cache/", "/srv/data/cache", True, True),
    ("data/*.txt", "/srv/data/a.txt", False, True),
    ("/srv/*", "/srv/a/b", False, False),
    ("/srv/**", "/srv/a/b", False, True),
    ("b?.log", "/x/b1.log", False, True),
    ("[ab].conf", "/etc/a.conf", False, True),
])
def test_patterns_match_as_rsync_reads_them(pattern, path, is_directory, matches):
    assert pattern_matches(pattern, path, is_directory) is matches


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_verdicts_agree_with_a_real_rsync(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    files = ["/a/keep.txt", "/a/b.tmp", "/a/cache/x", "/a/deep/cache/y", "/log/app.log", "/log/other", "/d/h", "/e/f/g"]
    for name in files:
        _write(source, name, "x\n")
    target.mkdir()
    includes = ["/a/", "/log/app.log", "/d/h", "/e/f/g"]
    excludes = ["*.tmp", "cache/", "/log/", "/d/h", "/e/"]
    (tmp_path / "include").write_text("".join(f"{line}\n" for line in includes))
    (tmp_path / "exclude").write_text("".join(f"{line}\n" for line in excludes))
    subprocess.run(["rsync", "-r", "-a", f"--files-from={tmp_path / 'include'}", f"--exclude-from={tmp_path / 'exclude'}",
                    f"{source}/", f"{target}/"], check=True, capture_output=True)
    entries = [ListEntry(pattern, "test", "here") for pattern in excludes]
    for name in files:
        predicted = any(covers(include, name) and first_blocking(entries, include, name, False)[0] is None
                        for include in includes)
        assert predicted == (target / name.lstrip("/")).is_file(), name
