"""The delete guard: keep a sync from mirroring a disaster onto the slave.

Two protections, both refused only for the run that triggers them and lifted by
``hotsync sync --force-delete``:

* an include root that was a non-empty folder at the last completed push and is now
  missing or empty (an unmounted disk, a wiped folder) is left out of the push and
  protected from deletion on the slave (an rsync ``P`` filter rule);
* the number of deletions is capped with ``--max-delete`` at the plan's percentage of the
  files the last completed push saw (which is what the slave holds). rsync performs at most
  that many deletions and refuses the rest. Counting exactly before deleting would need a
  second pass over both trees, doubling the cost of every sync; the cap bounds the damage
  instead. Once the cap was hit the guard stays armed: the following runs delete nothing
  (``--max-delete=0``) until a run needs no deletion any more or the admin forces one, so
  repeated runs cannot creep through the cap.

Both checks cost one folder look-up per include root, never a tree walk.
"""

import os
from typing import Dict, Iterable, Optional, Sequence, Tuple

from ..frozen import frozen
from ..root import Root


@frozen
class Baseline:
    """What the last completed push saw: its file count and the include roots that held files."""

    files_total: int = 0
    nonempty_roots: Tuple[str, ...] = ()
    armed: bool = False  # the cap was hit and no run has been forced since

    @classmethod
    def from_status(cls, status: Dict) -> "Baseline":
        guard = status.get("guard") or {}
        return cls(
            int(guard.get("files_total") or 0), tuple(guard.get("nonempty_roots") or ()), bool(guard.get("armed"))
        )


@frozen
class GuardDecision:
    """What the guard lets this push do."""

    max_delete: Optional[int]  # None = no cap
    protected_roots: Tuple[str, ...]  # include roots kept out of the push and protected on the slave
    reasons: Tuple[str, ...]  # one sentence per protected root, for the report

    def filter_rules(self) -> str:
        """rsync filter rules (a merge file) protecting the roots on the slave."""
        return "".join(f"P /{root.strip('/')}/***\n" for root in self.protected_roots)


def decide_guard(
    root: Root, wanted_includes: Sequence[str], baseline: Baseline, max_delete_percent: int, force: bool
) -> GuardDecision:
    """The guard's decision for a push of ``wanted_includes`` (include entries before the existence check)."""
    if force:
        return GuardDecision(None, (), ())
    protected, reasons = [], []
    wanted = {entry.rstrip("/") or "/" for entry in wanted_includes}
    for previous in baseline.nonempty_roots:
        if previous not in wanted:
            continue  # the rules no longer ask for it: dropping it is intended
        state = root_state(root, previous)
        if state != "non-empty":
            protected.append(previous)
            reasons.append(
                f"{previous} is {state} on the master but held files at the last sync (an unmounted disk?): "
                "its copy on the slave is kept; run 'hotsync sync --force-delete' if this is intended"
            )
    cap = 0 if baseline.armed else deletion_cap(baseline.files_total, max_delete_percent)
    return GuardDecision(cap, tuple(protected), tuple(reasons))


def deletion_cap(files_total: int, max_delete_percent: int) -> Optional[int]:
    """The most deletions one push may make; None when unknown (first push) or unlimited (100 % and more)."""
    if files_total <= 0 or max_delete_percent >= 100:
        return None
    return files_total * max(max_delete_percent, 0) // 100


def root_state(root: Root, host_path: str) -> str:
    """``non-empty``, ``empty``, ``missing`` or ``not a folder`` (one directory read, stopped at the first entry)."""
    real = root.path(host_path)
    if not os.path.lexists(real):
        return "missing"
    if not real.is_dir():
        return "not a folder"
    with os.scandir(real) as entries:
        return "non-empty" if next(iter(entries), None) is not None else "empty"


def nonempty_roots(root: Root, includes: Iterable[str]) -> Tuple[str, ...]:
    """The include entries that are non-empty folders now (normalised without trailing ``/``)."""
    found = []
    for entry in includes:
        bare = entry.rstrip("/") or "/"
        try:
            if root_state(root, bare) == "non-empty":
                found.append(bare)
        except (OSError, ValueError):
            continue
    return tuple(dict.fromkeys(found))


def baseline_after(
    root: Root, includes: Iterable[str], decision: GuardDecision, files_total: int, previous: Baseline, cap_hit: bool
) -> Baseline:
    """The baseline to record after a completed push.

    Protected roots stay protected until forced. When the cap was hit the previous file
    count is kept (the slave still holds about that many) and the guard is armed.
    """
    roots = tuple(dict.fromkeys(nonempty_roots(root, includes) + decision.protected_roots))
    if cap_hit:
        return Baseline(previous.files_total or files_total, roots, True)
    return Baseline(files_total, roots, False)
