"""Frozen classes: the immutable data that passes between HotSync's stages.

``@frozen`` gives a class with annotated fields what ``@dataclass(frozen=True)`` gives
it (an ``__init__`` taking the fields by position or name, defaults and default
factories, ``__post_init__``, equality, hashing, a readable ``repr``, no assignment
after construction) without generating code. The standard decorator compiles several
functions per class at import time, about 1 ms a class on a small server, and imports
``inspect``: together a third of the start-up of a ``hotsync`` run, which cron repeats
every few minutes and whose speed target is measured against raw rsync. A generic
``__init__`` is a little slower per object, and a sync builds only a few hundred objects.
"""

from typing import TYPE_CHECKING, Any, Callable, Dict, Tuple, TypeVar

if TYPE_CHECKING:
    # Tells a type checker that ``@frozen`` builds classes as ``@dataclass(frozen=True)`` does. Only
    # the checker reads it (typing_extensions ships with mypy's stubs): nothing is needed at run time.
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_options: Any) -> Callable[[Any], Any]:
        return lambda decorator: decorator

_MISSING: Any = object()
_FIELDS_ATTRIBUTE = "__frozen_fields__"

FrozenClass = TypeVar("FrozenClass", bound=type)


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen instance after it was built."""


class Field:
    """One field of a frozen class: its name and its default (a value or a factory)."""

    __slots__ = ("name", "default", "default_factory")

    def __init__(self, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING):
        self.name = ""
        self.default = default
        self.default_factory = default_factory

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is _MISSING

    def default_value(self) -> Any:
        return self.default if self.default_factory is _MISSING else self.default_factory()

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING) -> Any:
    """A field's default given as a factory (``field(default_factory=dict)``) or a plain value."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("a field takes a default or a default_factory, not both")
    return Field(default, default_factory)


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def frozen(cls: FrozenClass) -> FrozenClass:
    """Make ``cls`` a frozen class of its annotated fields (a frozen base's fields come first)."""
    by_name: Dict[str, Field] = {}  # a field redefined by a subclass keeps its place
    for base in reversed(cls.__mro__[1:]):
        by_name.update((item.name, item) for item in getattr(base, _FIELDS_ATTRIBUTE, ()))
    by_name.update((name, _own_field(cls, name)) for name in cls.__dict__.get("__annotations__", {}))
    spec = tuple(by_name.values())
    _check_default_order(cls, spec)
    setattr(cls, _FIELDS_ATTRIBUTE, spec)
    methods: Dict[str, Callable[..., Any]] = {
        "__init__": _init, "__setattr__": _refuse_assignment, "__delattr__": _refuse_assignment,
    }
    # Methods the class writes itself are kept (a class body's own __eq__ leaves __hash__ None).
    if "__eq__" not in cls.__dict__:
        methods["__eq__"] = _eq
    if cls.__dict__.get("__hash__") is None:
        methods["__hash__"] = _hash
    if "__repr__" not in cls.__dict__:
        methods["__repr__"] = _repr
    for name, method in methods.items():
        setattr(cls, name, method)
    return cls


def _own_field(cls: type, name: str) -> Field:
    value = cls.__dict__.get(name, _MISSING)
    item = value if isinstance(value, Field) else Field(default=value)
    item.name = name
    if isinstance(item.default, (list, dict, set)):
        raise ValueError(f"{cls.__name__}.{name}: a mutable default needs field(default_factory=...)")
    if value is not _MISSING:
        if item.default is _MISSING:
            delattr(cls, name)  # a factory default: the class attribute must not shadow the field
        else:
            setattr(cls, name, item.default)
    return item


def _check_default_order(cls: type, spec: Tuple[Field, ...]) -> None:
    seen_default = False
    for item in spec:
        if item.required and seen_default:
            raise TypeError(f"{cls.__name__}: required field {item.name!r} follows a field with a default")
        seen_default = seen_default or not item.required


def _init(self, *args: Any, **kwargs: Any) -> None:
    spec = fields(self)
    if len(args) > len(spec):
        raise TypeError(f"{type(self).__name__}() takes {len(spec)} arguments, {len(args)} were given")
    for item, value in zip(spec, args):
        if item.name in kwargs:
            raise TypeError(f"{type(self).__name__}() got two values for {item.name!r}")
        object.__setattr__(self, item.name, value)
    for item in spec[len(args):]:
        if item.name in kwargs:
            value = kwargs.pop(item.name)
        elif item.required:
            raise TypeError(f"{type(self).__name__}() is missing the field {item.name!r}")
        else:
            value = item.default_value()
        object.__setattr__(self, item.name, value)
    if kwargs:  # what is left names no field
        raise TypeError(f"{type(self).__name__}() got unexpected field(s): {', '.join(sorted(kwargs))}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _refuse_assignment(self, name: str, *_value: Any) -> None:
    raise FrozenInstanceError(f"cannot change field {name!r}: {type(self).__name__} is frozen")


def _values(self) -> Tuple[Any, ...]:
    return tuple(self.__dict__[item.name] for item in fields(self))


def _eq(self, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self) -> int:
    return hash(_values(self))


def _repr(self) -> str:
    shown = ", ".join(f"{item.name}={self.__dict__[item.name]!r}" for item in fields(self))
    return f"{type(self).__qualname__}({shown})"


def fields(class_or_instance: Any) -> Tuple[Field, ...]:
    """The fields of a frozen class or instance, in order."""
    return getattr(class_or_instance, _FIELDS_ATTRIBUTE)


def is_frozen(thing: Any) -> bool:
    """Whether ``thing`` is a frozen class or an instance of one."""
    return hasattr(thing, _FIELDS_ATTRIBUTE)


def replace(instance: Any, **changes: Any) -> Any:
    """A copy of ``instance`` with some fields changed (``__post_init__`` runs again)."""
    values = {item.name: instance.__dict__[item.name] for item in fields(instance)}
    values.update(changes)
    return type(instance)(**values)


def asdict(instance: Any) -> Dict[str, Any]:
    """The instance as plain data: nested frozen instances become dicts, recursively (in tuples, lists, dicts too)."""
    return {item.name: _plain(instance.__dict__[item.name]) for item in fields(instance)}


def _plain(value: Any) -> Any:
    if is_frozen(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
