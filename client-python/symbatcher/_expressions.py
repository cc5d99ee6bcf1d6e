"""Expressions named by import path, `module:Class`, as the command line
names them and as workers register them."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any


def check_expression(expr: object, kwargs: dict[str, object]) -> None:
    """Refuses, before anything is sent, an `expr` whose every item would fail
    the same way: one that is not an expression class or instance (a function,
    a string, ...), and one whose `forward()` cannot be called as
    `forward(input=item, **kwargs)` (the original library's `TypeError`, at
    once instead of once per item)."""
    if inspect.isroutine(expr) or not callable(getattr(expr, "forward", None)):
        what = "a function" if inspect.isroutine(expr) else f"a {type(expr).__name__}"
        raise TypeError(
            f"expr: must be an Expression class (or instance) with a forward(self, input, "
            f"**kwargs) method, got {what} ({expr!r:.80}); wrap a function in an Expression: "
            f"class Step(Expression): def forward(self, input, **kwargs): return fn(input)"
        )
    forward = getattr(expr, "forward")
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):  # no signature to read (a builtin): let it run
        return
    # A class's forward is read unbound: its first parameter is the instance.
    instance = (None,) if inspect.isclass(expr) else ()
    try:
        signature.bind(*instance, input=None, **dict.fromkeys(kwargs))
    except TypeError as err:
        cls = expr if inspect.isclass(expr) else type(expr)
        raise TypeError(
            f"{cls.__qualname__}.forward() cannot be called as forward(input=item, **kwargs): "
            f"{err}; BatchScheduler passes every item as `input`, so forward must accept it: "
            f"def forward(self, input, **kwargs)"
        ) from None


def expression_name(expr: object) -> str:
    """The name an expression class is registered and submitted under:
    `module:QualName` (an instance: its class's name)."""
    cls = expr if inspect.isclass(expr) else type(expr)
    return f"{cls.__module__}:{cls.__qualname__}"


def build_expression(cls: type, kwargs: dict[str, Any]) -> Any:
    """`cls(**kwargs)`, as the original library built a call's expression.

    A constructor that takes `**kwargs` (as `Expression`'s does) gets them
    all; one that names its parameters gets the kwargs it names and not the
    others, so `scheduler(Expr, n, data, temperature=0.2)` works with an
    `Expr.__init__(self)` too (the kwargs still reach every forward())."""
    try:
        # __init__'s own: symai's metaclass hides it behind (*args, **kwargs).
        init = cls.__init__  # type: ignore[misc]  # the class's own, read from the class
        parameters = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):  # no signature to read: pass them all
        return cls(**kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return cls(**kwargs)
    named = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return cls(**{key: value for key, value in kwargs.items() if key in named})


def add_app_dir(app_dir: str) -> None:
    """Puts `app_dir` first on sys.path, as `python -m` does for the current
    directory (a console script does not), so `module:Class` finds the
    user's modules."""
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)


def import_expression(spec: str) -> type:
    """The class named by `module:Class` (`Class` may be dotted: `Outer.Inner`).
    Raises ValueError with a message fit for the command line."""
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"{spec!r}: expected an import path module:Class, e.g. mypkg.exprs:Summarize")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"{spec!r}: cannot import module {module_name!r}: {exc} "
            f"(is it on PYTHONPATH or in --app-dir? sys.path[0] is {sys.path[0]!r})"
        ) from exc
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{spec!r}: module {module_name!r} has no attribute {qualname!r}") from None
    if not inspect.isclass(target):
        raise ValueError(
            f"{spec!r} is a {type(target).__name__}, not a class; workers serve Expression "
            "classes, instantiated once per job with the job's kwargs"
        )
    if not callable(getattr(target, "forward", None)):
        raise ValueError(f"{spec!r}: class {target.__qualname__} has no forward() method")
    return target


def registered_names(spec: str, cls: type) -> list[str]:
    """The names to register `cls` under: its canonical `module:QualName`
    (what BatchScheduler submits) and, if different, the spelling given."""
    names = [expression_name(cls)]
    if spec not in names:
        names.append(spec)
    return names
