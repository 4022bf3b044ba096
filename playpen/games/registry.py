"""Where each game lives: a name and an entry point (``"package.module:attr"``), imported only when the game is
used, so ``playpen --help`` and ``playpen list models`` import no game.

Playpen's own games register in :mod:`playpen.games`. Another package adds games in either of two ways:

* an entry point in the ``playpen.games`` group of its packaging metadata (``pyproject.toml``:
  ``[project.entry-points."playpen.games"] mygame = "mypackage.game:SPEC"``), read once, the first time the
  registry is asked about its games; nothing of the package is imported until its game is used;
* :func:`register` at import time, like Gymnasium's ``register(id, entry_point)``.

The attribute an entry point names is a :class:`GameSpec`, or a mapping of game names to specs (a package holding
several variants, as Playpen's wordle does). A game name is unique: a second registration of a name is an error
naming both sources. A plugin that fails to import is an error for that game only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Mapping

from playpen.core.errors import PlaypenError
from playpen.core.registry import GameSpec

#: the entry-point group third-party packages declare their games in
ENTRY_POINT_GROUP = "playpen.games"
#: the origin of Playpen's own games
BUILTIN = "built-in"


@dataclass(frozen=True)
class Registration:
    name: str
    #: ``"module:attr"``: the attribute holds the game's GameSpec or a {name: GameSpec} mapping
    entry_point: str
    #: ``built-in``, or which package registered the game (``plugin <distribution> <version>``)
    origin: str

    @property
    def builtin(self) -> bool:
        return self.origin == BUILTIN

    def __str__(self) -> str:
        return f"{self.origin} ({self.entry_point})"


@dataclass
class GameRegistry:
    """Registrations in order (Playpen's games first), the specs loaded so far and the plugins that failed."""

    registrations: dict[str, Registration] = field(default_factory=dict)
    specs: dict[str, GameSpec] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    plugins_read: bool = False

    def add(self, registration: Registration) -> None:
        known = self.registrations.get(registration.name)
        if known == registration:
            return  # the same package registering the same game again (a module imported twice)
        if known is not None:
            raise PlaypenError(f"game '{registration.name}' is registered twice: by {known} and by {registration}; "
                               "a game name must be unique: rename the plugin's game (or uninstall its package)")
        if ":" not in registration.entry_point:
            raise PlaypenError(f"game '{registration.name}' of {registration.origin}: entry point "
                               f"'{registration.entry_point}' must have the form 'package.module:attribute'")
        self.registrations[registration.name] = registration

    def read_plugins(self) -> None:
        """Add the games of the installed packages' ``playpen.games`` entry points (once)."""
        if self.plugins_read:
            return
        from importlib.metadata import entry_points  # here: its import costs more than the rest of the registry

        found = entry_points(group=ENTRY_POINT_GROUP)
        for entry in sorted(found, key=lambda entry: entry.name):
            dist = entry.dist
            origin = f"plugin {dist.name} {dist.version}" if dist is not None else "plugin"
            self.add(Registration(entry.name, entry.value, origin))
        self.plugins_read = True

    def all(self) -> dict[str, Registration]:
        self.read_plugins()
        return self.registrations

    def builtins_only(self) -> GameRegistry:
        """A registry with only Playpen's own games (plugins not read yet): for tests that add games."""
        names = [name for name, registration in self.registrations.items() if registration.builtin]
        return GameRegistry({name: self.registrations[name] for name in names},
                            {name: self.specs[name] for name in names if name in self.specs})

    def load(self, name: str) -> GameSpec:
        """The spec of a registered game, importing its module on first use."""
        if name in self.specs:
            return self.specs[name]
        if name in self.failures:
            raise PlaypenError(self.failures[name])
        registration = self.all()[name]
        try:
            spec = _resolve(registration)
        except Exception as error:
            if registration.builtin:
                raise  # a bug in Playpen itself: keep its traceback
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            self.failures[name] = (
                f"game '{name}' of {registration} cannot be loaded: {type(error).__name__}"
                f"{': ' + detail if detail else ''}; fix or reinstall that package, or uninstall it")
            raise PlaypenError(self.failures[name]) from None
        self.specs[name] = spec
        return spec


def _resolve(registration: Registration) -> GameSpec:
    module_name, _, attribute = registration.entry_point.partition(":")
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if isinstance(target, Mapping):
        if registration.name not in target:
            raise LookupError(f"{registration.entry_point} has no game '{registration.name}' "
                              f"(it holds {', '.join(target) or 'none'})")
        target = target[registration.name]
    if not isinstance(target, GameSpec):
        raise TypeError(f"{registration.entry_point} is a {type(target).__name__}, not a GameSpec")
    if target.name != registration.name:
        raise ValueError(f"{registration.entry_point} is the spec of game '{target.name}', not '{registration.name}'")
    return target


#: the process's registry (tests swap in ``REGISTRY.builtins_only()``)
REGISTRY = GameRegistry()


def register(name: str, entry_point: str, *, origin: str | None = None) -> None:
    """Register game ``name`` whose spec is ``entry_point`` (``"package.module:attr"``), imported on first use.

    ``origin`` says who registered it in ``playpen list games`` (default: ``plugin <top-level package>``)."""
    REGISTRY.add(Registration(name, entry_point, origin or f"plugin {entry_point.split('.')[0].split(':')[0]}"))


def registrations() -> dict[str, Registration]:
    """Every registered game, Playpen's first, then the plugins' (by name)."""
    return REGISTRY.all()


def load(name: str) -> GameSpec:
    return REGISTRY.load(name)
