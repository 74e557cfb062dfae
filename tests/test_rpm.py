"""The nethserver-hotsync RPM, built by ``packaging/rpm/build`` and read back the way rpm reads it.

One build per test run (it fetches the Python 3.6 libraries from the package index). The RPM is
checked with ``rpm -qp`` (name, version, files, configuration files, dependencies, scriptlets),
unpacked with ``rpm2cpio | cpio`` to run its launchers on this machine's ``/usr/bin/python3``
with nothing but the bundled folder, installed into an empty rpm root over a stand-in for the
original 2.2.4 package, and its scriptlets run with a stand-in ``signal-event``.
"""

import configparser
import os
import subprocess
from pathlib import Path
from typing import List

import pytest
from packaging.requirements import Requirement

from hotsync.nethserver.install import database_default_files, event_files, rule_files, stunnel_unit_file, web_files
from hotsync.nethserver.package import PACKAGE_FOLDER, PRIVATE_PYTHON_FOLDER

SOURCE = Path(__file__).resolve().parent.parent
BUILD = SOURCE / "packaging" / "rpm" / "build"
PINS = SOURCE / "packaging" / "rpm" / "python36-requirements.txt"
LAUNCHERS = ("/usr/sbin/hotsync", "/usr/sbin/hotsync-slave", "/usr/sbin/hotsync-promote")
REQUIRED = ("rsync", "stunnel", "python3", "nethserver-base", "nethserver-backup-config", "nethserver-backup-data")


def run(*argv, check=True, **options) -> subprocess.CompletedProcess:
    finished = subprocess.run([str(item) for item in argv], capture_output=True, text=True, timeout=600, **options)
    if check and finished.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {finished.returncode}:\n{finished.stdout}{finished.stderr}")
    return finished


def query(package: Path, *options: str) -> str:
    return run("rpm", "-qp", *options, package).stdout


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rpm")
    printed = run(BUILD, out).stdout.strip().splitlines()[-1]
    built = sorted(out.glob("*.rpm"))
    assert [str(path) for path in built] == [printed]
    return built[0]


@pytest.fixture(scope="module")
def unpacked(package, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("unpacked")
    with subprocess.Popen(["rpm2cpio", str(package)], stdout=subprocess.PIPE) as converter:
        run("cpio", "-idm", "--quiet", stdin=converter.stdout, cwd=folder)
    return folder


def test_the_rpm_is_a_noarch_nethserver_hotsync_that_upgrades_2_2_4(package):
    name, version, arch = query(package, "--qf", "%{NAME} %{VERSION} %{ARCH}").split()
    assert (name, arch) == ("nethserver-hotsync", "noarch")
    assert tuple(int(part) for part in version.split(".")) >= (3, 0, 0)
    assert package.name == f"nethserver-hotsync-{version}-1.noarch.rpm"


def test_the_rpm_carries_launchers_events_rules_and_the_bundled_libraries(package):
    listed = set(query(package, "-l").split("\n"))
    shipped = [*event_files(), *database_default_files(), *rule_files(), stunnel_unit_file(),
               *web_files("/usr/sbin/hotsync")]
    # events/ as the source tree has it now: whatever the events folder holds reaches the RPM
    source_events = {
        "/etc/e-smith/events/" + path.relative_to(SOURCE / "events").as_posix()
        for path in (SOURCE / "events").rglob("*") if path.is_file() and path.name != "__init__.py"
    }
    assert source_events <= listed
    assert {item.host_path for item in shipped} <= listed
    assert set(LAUNCHERS) <= listed
    assert {"/etc/hotsync.d", "/etc/hotsync", "/usr/lib/systemd/system/stunnel.service",
            "/usr/lib/systemd/system/hotsync-watch.service"} <= listed
    for library in ("hotsync", "lark", "jinja2", "markupsafe"):
        assert f"{PRIVATE_PYTHON_FOLDER}/{library}/__init__.py" in listed
    # noarch: no compiled code, no byte code of the build machine's Python, no pip scripts
    assert [path for path in listed if path.endswith((".so", ".pyc", ".c"))] == []
    assert f"{PRIVATE_PYTHON_FOLDER}/bin" not in listed
    assert not any(path.startswith(("/usr/lib/python", "/usr/lib64/python")) for path in listed)


def test_the_rules_are_configuration_that_an_upgrade_keeps_when_edited(package):
    flags = dict(line.rsplit(" ", 1) for line in query(package, "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]").splitlines())
    rules = [item.host_path for item in rule_files()]
    assert rules and all(flags[path] == "cn" for path in rules)  # %config(noreplace)
    not_config = [path for path, flag in flags.items() if "c" in flag and path not in rules]
    assert not_config == []
    modes = dict(line.rsplit(" ", 1) for line in query(package, "--qf", "[%{FILENAMES} %{FILEMODES:perms}\n]").splitlines())
    assert all(modes[path] == "-rwxr-xr-x" for path in LAUNCHERS)
    assert modes["/etc/e-smith/events/nethserver-hotsync-update/S00initialize-default-databases"] == "-rwxr-xr-x"
    assert modes["/etc/sudoers.d/50_nsapi_nethserver_hotsync"] == "-r--r-----"
    assert modes["/usr/libexec/nethserver/api/nethserver-hotsync/settings/read"] == "-rwxr-xr-x"


def test_the_rpm_carries_the_web_api_its_sudoers_rule_and_the_cockpit_app(package, unpacked):
    listed = set(query(package, "-l").split("\n"))
    api = "/usr/libexec/nethserver/api/nethserver-hotsync"
    calls = ("dashboard/read", "logs/read", "settings/execute", "settings/read", "settings/update", "settings/validate")
    assert {f"{api}/{name}" for name in calls} <= listed
    assert {"/etc/sudoers.d/50_nsapi_nethserver_hotsync", "/usr/share/cockpit/nethserver-hotsync/manifest.json",
            "/usr/share/cockpit/nethserver-hotsync/index.html", "/usr/share/cockpit/nethserver-hotsync/hotsync.js",
            "/usr/share/cockpit/nethserver/applications/nethserver-hotsync.json"} <= listed
    # the package owns its own folders, not NethServer's
    assert {api, f"{api}/settings", "/usr/share/cockpit/nethserver-hotsync"} <= listed
    assert not {"/usr/libexec/nethserver/api", "/usr/share/cockpit", "/etc/sudoers.d"} & listed
    # an executable runs the launcher, which runs the bundled package: unpacked here, it answers
    executable = (unpacked / f"{api}/settings/read".lstrip("/")).read_text()
    assert executable.splitlines()[-1] == "/usr/sbin/hotsync api settings/read"


def test_the_rpm_requires_what_hotsync_runs_and_nothing_of_the_build_machine(package):
    required = {line.split()[0] for line in query(package, "-R").splitlines()}
    assert set(REQUIRED) <= required
    assert not any(name.startswith(("python(abi)", "python3.", "/usr/bin/python3.")) for name in required)
    assert query(package, "--provides").split() == ["nethserver-hotsync", "=", query(package, "--qf", "%{VERSION}-%{RELEASE}")]


def test_the_bundled_package_imports_with_only_its_own_folder(unpacked):
    folder = unpacked / PRIVATE_PYTHON_FOLDER.lstrip("/")
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import hotsync.cli, lark, jinja2, markupsafe; "
        "print(hotsync.__file__, lark.__version__, jinja2.__version__, markupsafe.__version__, markupsafe.escape.__module__)"
    )
    printed = run("python3", "-I", "-S", "-c", code, folder).stdout.split()
    assert printed[0] == str(folder / "hotsync" / "__init__.py")
    assert printed[1:4] == [str(Requirement(line).specifier).lstrip("=") for line in _pins()]
    assert printed[4] == "markupsafe._native"  # MarkupSafe's Python implementation, no compiled speed-up


def _pins() -> List[str]:
    return [line for line in PINS.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_the_bundled_libraries_are_the_releases_setup_cfg_allows_on_python_3_6():
    setup = configparser.ConfigParser()
    setup.read(SOURCE / "setup.cfg")
    ranges = [Requirement(line) for line in setup["options"]["install_requires"].splitlines() if line.strip()]
    on_36 = {
        item.name.lower(): item.specifier
        for item in ranges
        if item.marker is None or item.marker.evaluate({"python_version": "3.6"})
    }
    pins = {Requirement(line).name.lower(): str(Requirement(line).specifier).lstrip("=") for line in _pins()}
    assert set(pins) == set(on_36)
    assert all(on_36[name].contains(version) for name, version in pins.items())


def _launcher(unpacked: Path, name: str, tmp_path: Path) -> Path:
    """The RPM's launcher, pointed at the unpacked folder instead of /usr/lib (its only difference)."""
    text = (unpacked / "usr/sbin" / name).read_text()
    assert PRIVATE_PYTHON_FOLDER in text and "/usr/bin/python3 -I -S" in text
    copy = tmp_path / name
    copy.write_text(text.replace(PRIVATE_PYTHON_FOLDER, str(unpacked / PRIVATE_PYTHON_FOLDER.lstrip("/"))))
    copy.chmod(0o755)
    return copy


def test_the_launchers_run_hotsync_from_the_bundled_folder_on_the_system_python(unpacked, package, tmp_path):
    version = query(package, "--qf", "%{VERSION}")
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": "/nonexistent", "LANG": "C"}
    hotsync = _launcher(unpacked, "hotsync", tmp_path)
    assert run(hotsync, "--version", env=environment).stdout == f"hotsync {version}\n"
    assert run(_launcher(unpacked, "hotsync-slave", tmp_path), "--help", env=environment).stdout.startswith(
        "usage: hotsync slave")
    assert run(_launcher(unpacked, "hotsync-promote", tmp_path), "--help", env=environment).stdout.startswith(
        "usage: hotsync promote")
    # the bundled grammar, templates and Jinja2 at work: a master compiles its files
    host = tmp_path / "host"
    host.mkdir()
    run(hotsync, "--root", host, "install", "--quiet", env=environment)
    run(hotsync, "--root", host, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "192.0.2.2",
        env=environment)
    run(hotsync, "--root", host, "compile", env=environment)
    assert "connect = 192.0.2.2:273" in (host / "etc/stunnel/stunnel.conf").read_text()
    assert (host / "var/lib/nethserver/hotsync/plan.json").is_file()


# A stand-in for the original nethserver-hotsync 2.2.4: a few files of each kind it installed
# (template fragments and their metadata, its own action and the event links to it, template
# lists, a shipped plugin, the stunnel unit, the commands, the Cockpit API's sudoers rule).
# Like the original's file list (NethServer's genfilelist) it owns no folder that holds files.
ORIGINAL_FILES = {
    "/etc/e-smith/templates/etc/rsyncd.conf/10base": "{ }\n",
    "/etc/e-smith/templates/etc/stunnel/stunnel.conf/10base": "{ }\n",
    "/etc/e-smith/templates/etc/cron.d/hotsync/10hotsync": "{ }\n",
    "/etc/e-smith/templates.metadata/etc/rsyncd.secrets": "PERMS=0600\n",
    "/etc/e-smith/events/actions/nethserver-hotsync-conf": "#!/bin/sh\n",
    "/etc/e-smith/events/nethserver-hotsync-save/templates2expand/etc/rsyncd.conf": "",
    "/etc/e-smith/events/nethserver-hotsync-update/templates2expand/etc/stunnel/stunnel.conf": "",
    "/etc/e-smith/events/certificate-update/templates2expand/etc/stunnel/stunnel.pem": "",
    "/etc/e-smith/events/nethserver-hotsync-save/services2adjust/stunnel": "restart\n",
    "/etc/e-smith/db/configuration/defaults/hotsync/role": "",
    "/etc/hotsync.d/mysql.sh": "#!/bin/sh\n",
    "/usr/lib/systemd/system/stunnel.service": "[Unit]\nDescription=the original's unit\n",
    "/usr/sbin/hotsync": "#!/bin/bash\n",
    "/etc/sudoers.d/50_nsapi_nethserver_hotsync": "\n",
    "/usr/libexec/nethserver/api/nethserver-hotsync/settings/read": "#!/usr/bin/perl\n",
    "/usr/share/cockpit/nethserver-hotsync/manifest.json": "{}\n",
    "/usr/share/cockpit/nethserver-hotsync/js/app.js": "\n",
}
ORIGINAL_LINKS = {
    "/etc/e-smith/events/nethserver-hotsync-save/S70nethserver-hotsync-conf": "../actions/nethserver-hotsync-conf",
    "/etc/e-smith/events/nethserver-hotsync-update/S00initialize-default-databases":
        "../actions/initialize-default-databases",
}


def _original_package(folder: Path) -> Path:
    stage = folder / "stage"
    for host_path, content in ORIGINAL_FILES.items():
        path = stage / host_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755 if content.startswith("#!") else 0o644)
    for host_path, target in ORIGINAL_LINKS.items():
        (stage / host_path.lstrip("/")).symlink_to(target)
    listed = sorted({*ORIGINAL_FILES, *ORIGINAL_LINKS})
    spec = folder / "original.spec"
    spec.write_text(
        "Name: nethserver-hotsync\nVersion: 2.2.4\nRelease: 1\nSummary: stand-in\nLicense: GPLv3\n"
        "BuildArch: noarch\nAutoReqProv: no\n%global __os_install_post %{nil}\n%description\nstand-in\n"
        f"%install\ncp -a {stage}/. %{{buildroot}}/\n%files\n%defattr(-,root,root)\n"
        + "".join(f"{path}\n" for path in listed)
    )
    run("rpmbuild", "--quiet", "-bb", "--define", f"_topdir {folder / 'rpmbuild'}", "--define", f"_rpmdir {folder}",
        "--define", "_build_name_fmt original.rpm", spec)
    return folder / "original.rpm"


def test_an_upgrade_from_2_2_4_keeps_settings_and_plugins_and_drops_the_original_templates(package, tmp_path):
    root = tmp_path / "root"
    rpm = ("rpm", "--root", root, "--nodeps", "--noscripts")  # scriptlets: see the next test
    run("rpm", "--root", root, "--initdb")
    run(*rpm, "-i", _original_package(tmp_path))
    database = root / "var/lib/nethserver/db/configuration"
    database.parent.mkdir(parents=True)
    database.write_text("hotsync=configuration|MasterHost|192.0.2.1|role|slave\nrsyncd=service|password|kept-secret\n")
    own_plugin = root / "etc/hotsync.d/50-my-files"
    own_plugin.write_text("#!/bin/sh\necho /srv/mine >> \"$1\"\n")
    own_plugin.chmod(0o755)

    run(*rpm, "-U", package)

    assert run("rpm", "--root", root, "-q", "nethserver-hotsync").stdout.startswith("nethserver-hotsync-3.")
    assert "role|slave" in database.read_text() and own_plugin.read_text().startswith("#!/bin/sh\necho /srv/mine")
    gone = [path for path in [*ORIGINAL_FILES, *ORIGINAL_LINKS] if os.path.lexists(root / path.lstrip("/"))]
    kept_by_the_new_package = set(query(package, "-l").split("\n"))
    assert sorted(set(gone) - kept_by_the_new_package) == []
    assert list((root / "etc/e-smith/templates").rglob("10*")) == []
    assert [path for path in (root / "etc/e-smith/events").rglob("*") if "templates2expand" in str(path)
            and not path.is_dir()] == []
    assert (root / "usr/lib/systemd/system/stunnel.service").read_bytes() == stunnel_unit_file().content
    assert (root / "etc/e-smith/events/nethserver-hotsync-update/S00initialize-default-databases").is_file()
    assert not (root / "etc/e-smith/events/nethserver-hotsync-update/S00initialize-default-databases").is_symlink()
    assert (root / "usr/sbin/hotsync").read_text().startswith("#!/bin/sh\n# hotsync: HotSync")
    # the original's Cockpit app and API give way to HotSync's
    assert (root / "usr/libexec/nethserver/api/nethserver-hotsync/settings/read").read_text().endswith(
        "/usr/sbin/hotsync api settings/read\n")
    assert "NSAPI_NETHSERVER_HOTSYNC" in (root / "etc/sudoers.d/50_nsapi_nethserver_hotsync").read_text()
    assert not (root / "usr/share/cockpit/nethserver-hotsync/js/app.js").exists()


def _scriptlet(package: Path, tag: str, tmp_path: Path) -> str:
    """The scriptlet's text, its absolute paths moved into ``tmp_path`` (signal-event: a recorder)."""
    text = query(package, "--qf", f"%{{{tag}}}")
    for host_path in ("/sbin/e-smith/signal-event", "/var/lib/rpm-state", PACKAGE_FOLDER,
                      "/etc/cron.d/hotsync", "/etc/e-smith/events"):
        text = text.replace(host_path, str(tmp_path / host_path.lstrip("/")))
    return text


def test_post_runs_the_update_event_on_install_and_posttrans_after_an_upgrade(package, tmp_path):
    recorder = tmp_path / "sbin/e-smith/signal-event"
    recorder.parent.mkdir(parents=True)
    recorder.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'events.log'}\n")
    recorder.chmod(0o755)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "systemctl").chmod(0o755)
    environment = {"PATH": f"{fake_bin}:{os.environ['PATH']}"}
    log = tmp_path / "events.log"
    left_by_2x = tmp_path / "etc/e-smith/events/nethserver-hotsync-save/templates2expand/etc/stunnel"
    left_by_2x.mkdir(parents=True)
    admins_entry = tmp_path / "etc/e-smith/events/nethserver-hotsync-update/templates2expand/etc/motd"
    admins_entry.parent.mkdir(parents=True)
    admins_entry.write_text("")

    post, posttrans = _scriptlet(package, "POSTIN", tmp_path), _scriptlet(package, "POSTTRANS", tmp_path)
    run("sh", "-c", post, "post", "1", env=environment)  # first install
    assert log.read_text() == "nethserver-hotsync-update\n"
    run("sh", "-c", posttrans, "posttrans", "0", env=environment)
    assert log.read_text() == "nethserver-hotsync-update\n"  # already done by %post

    log.unlink()
    run("sh", "-c", post, "post", "2", env=environment)  # upgrade: the old files are still there
    assert not log.exists()
    run("sh", "-c", posttrans, "posttrans", "0", env=environment)
    assert log.read_text() == "nethserver-hotsync-update\n"
    assert not left_by_2x.parent.parent.exists() and admins_entry.exists()
    run("sh", "-c", posttrans, "posttrans", "0", env=environment)
    assert log.read_text() == "nethserver-hotsync-update\n"  # once per upgrade


def test_erasing_the_package_removes_its_folder_and_cron_job_but_an_upgrade_does_not(package, tmp_path):
    byte_code = tmp_path / PACKAGE_FOLDER.lstrip("/") / "python/hotsync/__pycache__/cli.cpython-36.pyc"
    byte_code.parent.mkdir(parents=True)
    byte_code.write_bytes(b"")
    cron_job = tmp_path / "etc/cron.d/hotsync"
    cron_job.parent.mkdir(parents=True)
    cron_job.write_text("5,20,35,50 * * * * root /usr/sbin/hotsync\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "systemctl").chmod(0o755)
    postun = _scriptlet(package, "POSTUN", tmp_path)
    environment = {"PATH": f"{fake_bin}:{os.environ['PATH']}"}
    run("sh", "-c", postun, "postun", "1", env=environment)  # upgraded: the new version's files stay
    assert byte_code.exists() and cron_job.exists()
    run("sh", "-c", postun, "postun", "0", env=environment)  # erased
    assert not (tmp_path / PACKAGE_FOLDER.lstrip("/")).exists() and not cron_job.exists()
