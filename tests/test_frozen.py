"""``hotsync.frozen``: the immutable classes every stage passes on behave like frozen dataclasses."""

import json
import subprocess
import sys
from typing import Dict, Tuple

import pytest

from hotsync.frozen import FrozenInstanceError, asdict, field, fields, frozen, is_frozen, replace


@frozen
class Point:
    x: int
    y: int = 0
    tags: Tuple[str, ...] = ()


@frozen
class Shape:
    name: str
    corners: Tuple[Point, ...] = ()
    extra: Dict[str, str] = field(default_factory=dict)


@frozen
class Labelled(Point):
    label: str = ""


@frozen
class Sorted:
    items: Tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "items", tuple(sorted(self.items)))


def test_fields_by_position_by_name_and_defaults():
    assert (Point(1).x, Point(1).y, Point(1).tags) == (1, 0, ())
    assert Point(1, 2) == Point(x=1, y=2) == Point(y=2, x=1)
    assert [item.name for item in fields(Point)] == ["x", "y", "tags"]


def test_a_default_factory_gives_each_instance_its_own_value():
    first, second = Shape("a"), Shape("b")
    assert first.extra == {} and first.extra is not second.extra


def test_assignment_and_deletion_are_refused():
    point = Point(1)
    with pytest.raises(FrozenInstanceError, match="cannot change field 'x'"):
        point.x = 2
    with pytest.raises(AttributeError):
        del point.y
    assert point.x == 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Point(), "missing the field 'x'"),
        (lambda: Point(1, 2, (), 4), "takes 3 arguments, 4 were given"),
        (lambda: Point(1, x=2), "two values for 'x'"),
        (lambda: Point(1, z=3), "unexpected field"),
    ],
)
def test_wrong_arguments_raise_type_errors(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_equality_needs_the_same_class_and_values_and_hash_follows_it():
    assert Point(1, 2) != Point(1, 3)
    assert Point(1) != Labelled(1)
    assert Point(1) != (1, 0, ())
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_a_subclass_adds_its_fields_after_the_base_ones():
    labelled = Labelled(1, 2, ("t",), "name")
    assert [item.name for item in fields(labelled)] == ["x", "y", "tags", "label"]
    assert labelled.label == "name" and labelled.y == 2


def test_fields_come_once_through_several_levels_and_a_redefinition_keeps_its_place():
    @frozen
    class Named(Labelled):
        y: int = 7
        note: str = ""

    named = Named(1)
    assert [item.name for item in fields(named)] == ["x", "y", "tags", "label", "note"]
    assert (named.y, named.label, named.note) == (7, "", "")


def test_post_init_runs_on_construction_and_on_replace():
    assert Sorted((3, 1, 2)).items == (1, 2, 3)
    assert replace(Sorted((1,)), items=(9, 4)).items == (4, 9)


def test_replace_changes_only_the_named_fields():
    original = Point(1, 2, ("a",))
    changed = replace(original, y=5)
    assert (changed.x, changed.y, changed.tags) == (1, 5, ("a",))
    assert original.y == 2


def test_asdict_turns_nested_instances_into_plain_json_data():
    shape = Shape("square", (Point(0, 0), Point(1, 1, ("corner",))), {"colour": "red"})
    data = asdict(shape)
    assert data == {
        "name": "square",
        "corners": ({"x": 0, "y": 0, "tags": ()}, {"x": 1, "y": 1, "tags": ("corner",)}),
        "extra": {"colour": "red"},
    }
    assert json.loads(json.dumps(data))["corners"][1]["tags"] == ["corner"]


def test_repr_names_the_class_and_every_field():
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=())"


def test_is_frozen_knows_classes_and_instances():
    assert is_frozen(Point) and is_frozen(Point(1))
    assert not is_frozen(int) and not is_frozen({"x": 1})


def test_class_definition_errors_are_caught_early():
    with pytest.raises(TypeError, match="required field 'b' follows a field with a default"):

        @frozen
        class Bad:
            a: int = 0
            b: int

    with pytest.raises(ValueError, match="mutable default"):

        @frozen
        class Mutable:
            items: list = []


def test_methods_a_class_defines_itself_are_kept():
    @frozen
    class Custom:
        value: int

        def __repr__(self):
            return f"<{self.value}>"

    assert repr(Custom(3)) == "<3>"


def test_frozen_classes_need_nothing_beyond_the_standard_library():
    # The type checker's declaration of @frozen comes from typing_extensions, which NethServer 7's
    # Python does not have: building and using a frozen class must not import it.
    program = (
        "import sys; sys.modules['typing_extensions'] = None\n"  # None: any import of it fails
        "from hotsync.frozen import frozen\n"
        "@frozen\n"
        "class Point:\n"
        "    x: int\n"
        "print(Point(3))\n"
    )
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert (finished.returncode, finished.stdout, finished.stderr) == (0, "Point(x=3)\n", "")
