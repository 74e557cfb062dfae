"""``hotsync-promote [--yes] [--network restore|keep|stop|continue] [--remap-interfaces M=T,…] [--at TIME]
[--check|--dry-run]``: make this slave the master (``--at``: as it was at a restore point).

Asks for confirmation (``--yes`` answers it). The promoted host takes the master's network
configuration unless ``--network keep`` (and stops before any change when the master's
network cards are not named as this host's, unless ``--remap-interfaces`` says which card
here takes each of the master's). When the package repositories cannot be
reached it asks the original's question, "Please choose an action (1-3)":
1 restore the master's network configuration, 2 stop so the admin fixes the network,
3 continue without reinstalling packages (``--network`` answers it; with ``--yes`` alone
the answer is 3). Then runs the steps of ``hotsync.runtime.promote``, printing each one,
and ends with the measured recovery time, the age of the restored data and what is left
to do.
"""

import argparse
import re
import time
from typing import Callable, List, Optional

from ..errors import EXIT_FAILURE, EXIT_OK, UsageError
from ..frozen import asdict
from ..plan import load_plan
from ..root import Root
from ..runtime.health import network_check
from ..runtime.lock import hold_sync_lock
from ..runtime.points import point_for, rewind
from ..runtime.promote import (
    LOADED_DUMPS_FOLDER,
    NETWORK_CHOICES,
    PromotionReport,
    Remap,
    check_can_promote,
    check_network_can_be_taken,
    data_age,
    planned_state,
    promote,
    promotion_in_progress,
    promotion_steps,
    read_state,
    repositories_problem,
    takes_master_network,
)
from ..runtime.status import assess_health
from .parsing import CommandParser

NETWORK_MENU = """The package repositories cannot be reached ({problem}).
  1) restore the master's network configuration (only when both hosts have identical network cards)
  2) stop here, to fix the network in the Server Manager first; then run hotsync-promote again
  3) continue without reinstalling the master's packages"""
NETWORK_PROMPT = "Please choose an action (1-3): "
ANSWERS = {"1": "restore", "2": "stop", "3": "continue"}
# A network card's name as the kernel and NethServer's rename action take it (no ',' or '=',
# which separate the pairs; at most 15 characters).
CARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")


def build_parser() -> CommandParser:
    parser = CommandParser("promote", description="Make this slave the master (restores databases and "
                           "configuration, refuses the old master's pushes). Resumable: run it again after a failure.")
    parser.add_argument("--yes", action="store_true",
                        help="do not ask for confirmation; without --network, continue without reinstalling "
                             "packages when the repositories cannot be reached")
    parser.add_argument("--network", choices=NETWORK_CHOICES,
                        help="restore: take the master's network configuration (the default, when the network cards "
                             "have the same names); keep: keep this host's own; stop, continue: the answers to the "
                             "question asked when the package repositories cannot be reached")
    parser.add_argument("--check", action="store_true",
                        help="print the steps a promotion would run and what would block it now, changing nothing "
                             "(exit 1 when something would)")
    parser.add_argument("--at", metavar="TIME", default="",
                        help="first take the synced files, dumps and configuration backup back to the last restore "
                             "point at or before TIME (see 'hotsync restore-points'), then promote")
    parser.add_argument("--dry-run", action="store_true",
                        help="like --check, and with --at say how many files going back would restore or remove")
    parser.add_argument("--remap-interfaces", metavar="MASTER_CARD=THIS_CARD[,…]", type=parse_remap, default=(),
                        help="take the master's network onto cards named otherwise here: each card of the "
                             "master gets the roles and addresses on the card named after '='")
    return parser


def parse_remap(text: str) -> Remap:
    """``eth0=ens18,eth1=ens19`` as pairs; each card named once on each side."""
    pairs = []
    for item in text.split(","):
        old, equals, new = item.partition("=")
        if not equals or not CARD_NAME.fullmatch(old) or not CARD_NAME.fullmatch(new):
            raise argparse.ArgumentTypeError(f"'{item}' is not MASTER_CARD=THIS_CARD (card names of letters, "
                                             "digits, '.', '_' and '-', at most 15)")
        pairs.append((old, new))
    for side, names in (("the master's", [old for old, _ in pairs]), ("this host's", [new for _, new in pairs])):
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise argparse.ArgumentTypeError(f"{side} card {', '.join(repeated)} is named more than once")
    return tuple(pairs)


def main(root: Root, argv: List[str], ask: Callable[[str], str] = input) -> int:
    options = build_parser().parse_args(argv)
    if options.remap_interfaces and options.network == "keep":
        raise UsageError("hotsync promote: --remap-interfaces takes the master's network; --network keep keeps "
                         "this host's: choose one")
    plan = load_plan(root)
    check_can_promote(root, plan)
    if options.at:
        point_for(root, options.at)  # no such point: stop before any change
    if options.check or options.dry_run:
        if options.at:
            preview = rewind(root, options.at, dry_run=True)
            print(preview[0].upper() + preview[1:] + ".")
        return print_check(root, plan, options)
    resuming = promotion_in_progress(root)
    if not options.yes and not confirm(root, resuming, ask):
        print("Promotion cancelled: nothing was changed.")
        return EXIT_FAILURE
    network = choose_network(root, options, resuming, ask)
    if network == "stop":
        print("Promotion stopped before any change: fix the network in the Server Manager, "
              "then run hotsync-promote again.")
        return EXIT_FAILURE
    check_network_can_be_taken(root, planned_state(root, network, options.remap_interfaces))  # before the lock file too
    # The slave's upkeep takes the same lock: it never runs beside the promotion.
    with hold_sync_lock(root, waiting=lambda: print("Waiting for the slave's upkeep (hotsync-slave) to end...", flush=True)):
        report = promote(root, network, announce=print, remap=options.remap_interfaces, at=options.at)
    print_summary(report, root)
    return EXIT_OK


def print_check(root: Root, plan, options) -> int:
    """``--check``: the steps in order, then each readiness check; changes nothing.

    Exit 0 when a promotion would succeed now, 1 when a check blocks it.
    """
    network = options.network or "restore"
    done = read_state(root).get("done", {}) if promotion_in_progress(root) else {}
    print(f"A promotion now would run these steps (network: {network}):")
    for number, step in enumerate(promotion_steps(root, plan, network, options.remap_interfaces, options.at), 1):
        print(f"  {number}. {step.title}" + (" (done by an earlier run)" if step.key in done and not step.recheck else ""))
    checks = assess_health(root, time.time(), plan)["readiness"]["checks"]
    # The network the admin chose here, not the default the quarter-hourly check assumes.
    chosen = asdict(network_check(root, network, options.remap_interfaces))
    checks = [chosen if check["name"] == "network" else check for check in checks]
    blocking = [check for check in checks if not check["ok"]]
    print(f"Ready to promote: {'no' if blocking else 'yes'}")
    for check in checks:
        print(f"  {'ok' if check['ok'] else 'BLOCKS'}: {check['detail']}")
    print("Nothing was changed.")
    return EXIT_FAILURE if blocking else EXIT_OK


def confirm(root: Root, resuming: bool, ask: Callable[[str], str]) -> bool:
    """The admin types ``yes``: promotion changes the role and the databases of this host."""
    if resuming:
        print(f"Resuming the promotion started {describe_moment(read_state(root).get('started_epoch'))}.")
    else:
        print(f"This makes this host the master. Its data is from the last sync received: "
              f"{describe_moment(data_age(root))}.")
    answer = _ask(ask, "Type 'yes' to promote this host: ")
    return answer is not None and answer.strip().lower() == "yes"


def choose_network(root: Root, options, resuming: bool, ask: Callable[[str], str]) -> str:
    """The network choice: ``--network``, else the earlier run's, else no question when the
    repositories answer, else the question (``--yes`` answers ``continue``)."""
    if options.network:
        return options.network
    if resuming and read_state(root).get("network") in ("restore", "keep", "continue"):
        return read_state(root)["network"]
    problem = repositories_problem(root)
    if not problem:
        return "reinstall"
    if options.yes:
        print(f"The package repositories cannot be reached ({problem}): continuing without reinstalling packages.")
        return "continue"
    print(NETWORK_MENU.format(problem=problem))
    while True:
        answer = _ask(ask, NETWORK_PROMPT)
        if answer is None:
            return "stop"
        if answer.strip() in ANSWERS:
            return ANSWERS[answer.strip()]
        print(f"'{answer.strip()}' is not a choice: type 1, 2 or 3.")


def _ask(ask: Callable[[str], str], prompt: str) -> Optional[str]:
    """One answer, or None at end of input (no terminal, or Ctrl-D)."""
    try:
        return ask(prompt)
    except EOFError:
        print()
        return None


def print_summary(report: PromotionReport, root: Root) -> None:
    print(f"Promotion complete: this host is the master. It took {describe_seconds(report.seconds)}"
          + (f" ({describe_seconds(report.total_seconds)} since the first attempt)" if report.skipped else "")
          + " (RTO).")
    if report.warnings:
        print(f"{len(report.warnings)} warning(s): the promotion went on without these (also in 'hotsync status'):")
        for warning in report.warnings:
            print(f"  warning: {warning}")
    if report.data_epoch:
        print(f"The restored data is from the last successful sync, {describe_moment(report.data_epoch)} (RPO): "
              "changes made on the old master after it are not on this host.")
    else:
        print("The age of the restored data is unknown: no successful sync from the old master is recorded.")
    for line in next_steps(report):
        print(line)


def next_steps(report: PromotionReport) -> List[str]:
    """What is left for the admin, as this promotion left the host."""
    if takes_master_network(report.network):
        network = ("Next: this host now has the master's network configuration (its addresses and roles): "
                   "keep the old master off the network until it is made a slave.")
    else:
        network = ("Next: this host kept its own network: move the old master's network roles (gateway, "
                   "public address) to this host in the Server Manager (Network) if needed.")
    return [
        network,
        "Then run 'signal-event post-restore-data' to load the other synced dumps (the ones promotion loaded "
        f"are set aside in {LOADED_DUMPS_FOLDER}, so they are not loaded twice).",
        "To protect this master again, make the old one (once repaired) its slave and run here: "
        "config setprop hotsync SlaveHost ADDRESS status enabled; signal-event nethserver-hotsync-save",
    ]


def describe_moment(epoch) -> str:
    if not epoch:
        return "unknown"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(epoch))} ({describe_seconds(time.time() - epoch)} ago)"


def describe_seconds(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60} min"
