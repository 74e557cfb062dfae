"""When a batch of the continuous push waits for more random-looking files (``signs_in``)."""

from hotsync.runtime.batch_brake import signs_in
from hotsync.runtime.brake import Changes
from hotsync.runtime.manifest import Entry

TEXT, RANDOM = 4.5, 7.9  # entropy samples, bits per byte


def window(total: int, turned_random: int, notes=()) -> Changes:
    """The files since the last full push: ``turned_random`` of ``total`` text files now random."""
    before = {f"docs/{number}.txt": Entry(4096, "2026/12/01-10:00:00", TEXT) for number in range(total)}
    now = dict(before)
    rewritten = [f"docs/{number}.txt" for number in range(turned_random)]
    for name in rewritten:
        now[name] = Entry(4096, "2026/12/01-10:05:00", RANDOM)
    for name in notes:
        now[name] = Entry(300, "2026/12/01-10:05:00", TEXT)
    return Changes(before, now, [], list(notes), rewritten, total, frozenset({"txt"}))


def test_on_a_small_tree_the_first_random_looking_file_waits_for_more():
    changes = window(40, 1)
    assert signs_in(changes, {"docs/0.txt": changes.now["docs/0.txt"]}, 40) == ("docs/0.txt",)


def test_on_a_large_tree_a_few_dozen_random_looking_files_go_at_once_and_the_fiftieth_waits():
    changes = window(50_000, 42)
    batch = {name: changes.now[name] for name in changes.rewritten}
    assert signs_in(changes, batch, 50_000) == ()
    changes = window(50_000, 50)
    batch = {name: changes.now[name] for name in changes.rewritten}
    assert len(signs_in(changes, batch, 50_000)) == 50


def test_a_ransom_note_always_waits():
    changes = window(50_000, 0, notes=("docs/HOW_TO_DECRYPT.txt",))
    assert signs_in(changes, {"docs/HOW_TO_DECRYPT.txt": changes.now["docs/HOW_TO_DECRYPT.txt"]}, 50_000) == \
        ("docs/HOW_TO_DECRYPT.txt",)
