"""The interactive-fiction interpreter: a world of PDDL-style facts and the seven actions acting on it.

A :class:`World` holds the mutable part of one episode (the facts, the goals the interpreter last reported and
the exploration record); everything derived from the instance alone lives in a shared :class:`Adventure`, so
copying a world is cheap. Command handling follows clembench v2.0's interpreter step by step — parsing phase,
parameter type check, preconditions in definition order (the first failing fact decides the fail type), effects
applied in order — including its quirks, which the game's docs list. Feedback sentences are our own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from playpen.games.adventuregame import prompts
from playpen.games.adventuregame.commands import parse_command
from playpen.games.adventuregame.definitions import INVENTORY, PLAYER, Action, Definitions, definitions_for

Fact = tuple


def parse_fact(text: str) -> Fact:
    """``"on(plate1,table1)"`` -> ``("on", "plate1", "table1")``."""
    name, _, rest = text.strip().partition("(")
    return (name, *(arg.strip() for arg in rest.rstrip(")").split(",") if arg.strip()))


def fact_text(fact: Fact) -> str:
    return f"{fact[0]}({','.join(str(a) for a in fact[1:])})"


def _rooms_of_player(facts: Iterable[Fact]) -> frozenset[str]:
    return frozenset(f[2] for f in facts if f[0] == "at" and f[1] == PLAYER)


def _numbered(value: str) -> bool:
    return value[-1:].isdigit()


@dataclass(frozen=True)
class Adventure:
    """What an instance fixes for the whole episode: definitions, initial facts, goals, instance names."""

    defs: Definitions
    initial_facts: tuple[Fact, ...]
    goals: tuple[Fact, ...]
    instance_type: Mapping[str, str]  # entity or room instance -> its type
    first_instance: Mapping[str, str]  # type -> its first instance (clembench assumes one per type)
    takeables: tuple[str, ...]
    rooms: tuple[str, ...]
    entity_count: int
    goal_entities: frozenset[str]
    hidden: frozenset[str]  # instances never listed (player, floors, ...)

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> "Adventure":
        defs = definitions_for(instance)
        facts = dict.fromkeys(parse_fact(f) for f in instance["initial_state"])
        _complete_initial_facts(facts, defs)
        instance_type: dict[str, str] = {}
        first_instance: dict[str, str] = {}
        for fact in facts:
            if fact[0] in ("type", "room") and len(fact) == 3:
                instance_type[fact[1]] = fact[2]
                first_instance.setdefault(fact[2], fact[1])
        goals = tuple(parse_fact(g) for g in instance["goal_state"])
        goal_entities = frozenset(arg for goal in goals for arg in goal[1:3])
        return cls(
            defs=defs,
            initial_facts=tuple(facts),
            goals=goals,
            instance_type=instance_type,
            first_instance=first_instance,
            takeables=tuple(f[1] for f in facts if f[0] == "takeable"),
            rooms=tuple(f[1] for f in facts if f[0] == "room"),
            entity_count=sum(1 for f in facts if f[0] == "type"),
            goal_entities=goal_entities,
            hidden=frozenset([PLAYER]) | frozenset(
                i for i, t in instance_type.items() if defs.entity_types.get(t, {}).get("hidden")
            ),
        )

    def __deepcopy__(self, memo) -> "Adventure":  # immutable: episodes and their copies share it
        return self

    def label(self, instance_or_type: str | None) -> str:
        if instance_or_type is None:
            return "thing"
        return self.defs.label(self.instance_type.get(instance_or_type, instance_or_type))

    def resolve(self, value: str | None) -> str | None:
        """A type name stands for the first instance of that type; instance names and the inventory stay."""
        if value is None or _numbered(value) or value.endswith(INVENTORY):
            return value
        return self.first_instance.get(value)


def _complete_initial_facts(facts: dict[Fact, None], defs: Definitions) -> None:
    """Add what clembench's interpreter derives at start: trait facts, floors, accessibility, item count."""
    derived: dict[Fact, None] = {}
    for fact in list(facts):
        if fact[0] == "type" and len(fact) == 3 and fact[2] in defs.entity_types:
            for trait in defs.entity_types[fact[2]]["traits"]:
                derived[(trait, fact[1])] = None
        elif fact[0] == "room" and len(fact) == 3:
            derived[("type", f"{fact[1]}floor1", "floor")] = None
            derived[("at", f"{fact[1]}floor1", fact[1])] = None
    facts.update(derived)
    extra: dict[Fact, None] = {}
    for fact in facts:
        name = fact[0]
        if name == "in" and len(fact) == 3:
            if fact[2] == INVENTORY or ("open", fact[2]) in facts:
                extra[("accessible", fact[1])] = None
        elif name == "on" and len(fact) == 3 and ("support", fact[2]) in facts:
            extra[("accessible", fact[1])] = None
        elif name == "type" and len(fact) == 3 and ("needs_support", fact[1]) not in facts:
            if fact[2] not in ("floor", "player"):
                extra[("accessible", fact[1])] = None
    # clembench rests unsupported objects on a floor id without the trailing 1 (it matches no floor)
    for fact in list(facts):
        if fact[0] == "at" and ("needs_support", fact[1]) in facts:
            if not any(f[0] in ("on", "in") and f[1] == fact[1] for f in facts if len(f) == 3):
                extra[("on", fact[1], f"{fact[2]}floor")] = None
    extra[("accessible", INVENTORY)] = None
    facts.update(extra)
    if defs.inventory_capacity is not None and not any(f[0] == "itemcount" for f in facts):
        facts[("itemcount", INVENTORY, 0)] = None


@dataclass
class Result:
    """What one command did: feedback text, and either the action type or the failure (phase, fail type)."""

    ok: bool
    feedback: str
    #: the action the command was resolved as (None when it failed to parse)
    attempted: str | None = None
    phase: str | None = None
    fail_type: str | None = None
    #: facts the action removed (exploration tracking keeps them out of what the player knows)
    removed: tuple[Fact, ...] = ()

    @property
    def action(self) -> str | None:
        return self.attempted if self.ok else None

    @property
    def done(self) -> bool:
        return self.ok and self.attempted == "done"


@dataclass
class World:
    """The mutable state of one episode."""

    adventure: Adventure
    facts: dict[Fact, None] = field(default_factory=dict)
    #: goals the interpreter reported after its last successful action (clembench keeps this across failures)
    reported_goals: frozenset[Fact] = frozenset()
    exploration: frozenset[Fact] = frozenset()
    exploration_history: list[frozenset[Fact]] = field(default_factory=list)
    #: rooms the player was seen in up to each exploration history entry (cumulative)
    visited_history: list[frozenset[str]] = field(default_factory=list)
    _room: str | None = field(default=None, repr=False, compare=False)  # cache of the player's room

    @classmethod
    def start(cls, adventure: Adventure) -> "World":
        world = cls(adventure, dict.fromkeys(adventure.initial_facts))
        world.exploration = world.perceived()
        world.exploration_history.append(world.exploration)
        world.visited_history.append(_rooms_of_player(world.exploration))
        return world

    def __deepcopy__(self, memo) -> "World":  # facts are tuples and history entries frozensets: share them
        return self.copy()

    def copy(self) -> "World":
        return World(self.adventure, self.facts.copy(), self.reported_goals, self.exploration,
                     list(self.exploration_history), list(self.visited_history))

    # ------------------------------------------------------------------ queries
    @property
    def defs(self) -> Definitions:
        return self.adventure.defs

    def holds(self, fact: Fact) -> bool:
        return fact in self.facts

    def player_room(self) -> str:
        if self._room is None:
            self._room = next((f[2] for f in self.facts if f[0] == "at" and f[1] == PLAYER), None)
            if self._room is None:
                raise RuntimeError("adventuregame: the player is nowhere")
        return self._room

    def snapshot(self) -> dict[Fact, None]:
        return self.facts.copy()

    def restore(self, facts: dict[Fact, None]) -> None:
        self.facts = facts
        self._room = None

    def goals_met(self) -> frozenset[Fact]:
        return frozenset(g for g in self.adventure.goals if g in self.facts)

    def inventory(self) -> list[str]:
        return [f[1] for f in self.facts if f[0] == "in" and len(f) == 3 and f[2] == INVENTORY]

    def contents(self, container: str) -> list[str]:
        return [f[1] for f in self.facts if f[0] == "in" and len(f) == 3 and f[2] == container]

    def visible_things(self, room: str | None = None) -> list[str]:
        """Non-hidden things in the room, except those inside closed containers or the inventory."""
        room = room or self.player_room()
        hidden = self.adventure.hidden
        inside = {f[1]: f[2] for f in self.facts if f[0] == "in" and len(f) == 3}
        visible = []
        for fact in self.facts:
            if fact[0] != "at" or len(fact) != 3 or fact[2] != room or fact[1] in hidden:
                continue
            holder = inside.get(fact[1])
            if holder is not None and (holder == INVENTORY or ("closed", holder) in self.facts):
                continue
            visible.append(fact[1])
        return visible

    def exits(self, room: str | None = None) -> list[str]:
        room = room or self.player_room()
        return [f[2] for f in self.facts if f[0] == "exit" and len(f) == 3 and f[1] == room]

    # ------------------------------------------------------------------ descriptions (our wording)
    def describe_room(self) -> str:
        label = self.adventure.label
        room = self.player_room()
        visible = self.visible_things(room)
        parts = [prompts.ROOM.substitute(room=label(room))]
        if visible:
            parts.append(prompts.ROOM_SEES.substitute(things=prompts.join_and(prompts.with_article([label(t) for t in visible]))))
        states: dict[str, list[Fact]] = {thing: [] for thing in visible}
        for fact in self.facts:
            if fact[0] in ("closed", "open", "in", "on") and fact[1] in states:
                states[fact[1]].append(fact)
        for thing in visible:
            for fact in states[thing]:
                if fact[0] == "closed":
                    parts.append(prompts.STATE_CLOSED.substitute(thing=label(thing)))
                elif fact[0] == "open":
                    parts.append(prompts.STATE_OPEN.substitute(thing=label(thing)))
                elif fact[0] == "in" and len(fact) == 3:
                    parts.append(prompts.STATE_IN.substitute(thing=label(thing), place=label(fact[2])))
                elif fact[0] == "on" and len(fact) == 3:
                    parts.append(prompts.STATE_ON.substitute(thing=label(thing), place=label(fact[2])))
        exits = self.exits(room)
        if exits:
            parts.append(prompts.ROOM_EXITS.substitute(rooms=prompts.join_and([f"the {label(e)}" for e in exits], "or")))
        return " ".join(parts)

    def describe_inventory(self) -> str:
        held = self.inventory()
        if not held:
            return prompts.INVENTORY_EMPTY
        return prompts.INVENTORY_HOLDS.substitute(things=prompts.join_and(prompts.with_article([self.adventure.label(t) for t in held])))

    def describe_contents(self, container: str) -> str:
        held = self.contents(container)
        name = self.adventure.label(container)
        if not held:
            return prompts.CONTAINER_EMPTY.substitute(container=name)
        things = prompts.join_and(prompts.with_article([self.adventure.label(t) for t in held]))
        return prompts.CONTAINER_HOLDS.substitute(container=name, things=things)

    def describe_entity(self, entity: str) -> str:
        if entity == INVENTORY:
            return self.describe_inventory()
        label = self.adventure.label
        parts = [prompts.EXAMINE_BASE.substitute(thing=label(entity))]
        has = self.facts.__contains__
        if has(("openable", entity)):
            state = "open" if has(("open", entity)) else "closed"
            parts.append(prompts.EXAMINE_OPENABLE.substitute(state=state))
        if has(("takeable", entity)):
            parts.append(prompts.EXAMINE_TAKEABLE)
        for fact in self.facts:
            if fact[0] in ("on", "in") and len(fact) == 3 and fact[1] == entity:
                place = "floor" if fact[2].endswith(("floor", "floor1")) else label(fact[2])
                parts.append(prompts.EXAMINE_LOCATED.substitute(relation=fact[0], place=place))
        if has(("container", entity)):
            parts.append(prompts.EXAMINE_CLOSED_CONTAINER if has(("closed", entity)) else self.describe_contents(entity))
        if has(("support", entity)):
            above = [f[1] for f in self.facts if f[0] == "on" and len(f) == 3 and f[2] == entity]
            if above:
                parts.append(prompts.EXAMINE_SUPPORT_HOLDS.substitute(things=prompts.join_and(prompts.with_article([label(t) for t in above]))))
            else:
                parts.append(prompts.EXAMINE_SUPPORT_EMPTY)
        return " ".join(parts)

    # ------------------------------------------------------------------ exploration (clembench's bookkeeping)
    def perceived(self) -> frozenset[Fact]:
        room = self.player_room()
        visible = set(self.visible_things(room))
        held = set(self.inventory())
        seen: set[Fact] = {("at", PLAYER, room)}
        for fact in self.facts:
            if len(fact) < 2:
                continue
            name, subject = fact[0], fact[1]
            if subject in visible and name in ("open", "closed", "at", "in", "on"):
                seen.add(fact)
            elif subject in held and name in ("at", "in"):
                seen.add(fact)
            elif name == "itemcount" and subject == INVENTORY:
                seen.add(fact)
            elif name == "exit" and subject == room:
                seen.add(fact)
        return frozenset(seen)

    def track_exploration(self, removed: Iterable[Fact] = ()) -> None:
        current = self.perceived()
        known = self.exploration | (current - self.exploration_history[-1])
        self.exploration = known - set(removed)
        self.exploration_history.append(self.exploration)
        self.visited_history.append(self.visited_history[-1] | _rooms_of_player(self.exploration))

    def forget_exploration(self, entries: int) -> None:
        """Drop the last history entries and fall back to the state before them (clembench's plan rollback)."""
        del self.exploration_history[-entries:]
        del self.visited_history[-entries:]
        self.exploration = self.exploration_history[-1]

    def exploration_info(self, action: Action | None) -> dict[str, Any]:
        """clembench's exploration figures for the action just processed."""
        known_at = {f for f in self.exploration if f[0] == "at"}
        gained = self.exploration - self.exploration_history[-2] if len(self.exploration_history) > 1 else frozenset()
        epistemic = bool(action and action.epistemic)
        visited = self.visited_history[-1]
        goals = self.adventure.goals
        known_goal = {k for k in known_at if any(k[1] in goal for goal in goals)}
        goal_entities = self.adventure.goal_entities
        return {
            "epistemic_action": int(epistemic),
            "pragmatic_action": int(bool(action and action.pragmatic)),
            "effective_epistemic_gain_amount": len(gained) if epistemic else 0,
            "known_entities_ratio": len(known_at) / self.adventure.entity_count if self.adventure.entity_count else 0.0,
            "visited_rooms_ratio": len(visited) / len(self.adventure.rooms) if self.adventure.rooms else 0.0,
            "known_goal_entities_ratio": len(known_goal) / len(goal_entities) if goal_entities else 0.0,
        }

    # ------------------------------------------------------------------ processing a command
    def process(self, command: str) -> Result:
        """Parse and resolve one command (the text after ``>``); change the world if it succeeds."""
        parsed = self._parse(command)
        if isinstance(parsed, Result):
            self.track_exploration()
            return parsed
        result = self._resolve(*parsed)
        if result.ok:
            self.reported_goals = self.goals_met()
        self.track_exploration(result.removed)
        return result

    def _parse(self, command: str) -> Result | tuple[Action, dict[str, str]]:
        defs = self.defs
        text = command[:-1] if command.endswith((".", "!")) else command
        parsed = parse_command(text.lower())

        def fail(fail_type: str, feedback: str, phase: str = "parsing") -> Result:
            return Result(False, feedback, phase=phase, fail_type=fail_type)

        if parsed is None:
            return fail("lark_exception", prompts.NOT_UNDERSTOOD)
        verb = parsed.action
        if verb is None:
            if parsed.arg1 in defs.actions:
                return fail("malformed_command", prompts.NOT_UNDERSTOOD)
            return fail("undefined_action_verb", prompts.UNKNOWN_VERB.substitute(verb=parsed.arg1))
        action = defs.actions[verb]
        args: dict[str, str] = {}
        if verb == "done":
            return action, args
        arg1 = defs.label_to_type.get(parsed.arg1)
        if arg1 is None:
            return fail("undefined_repr_str", prompts.UNKNOWN_WORD.substitute(word=parsed.arg1))
        if arg1 not in defs.entity_types and verb in ("take", "put", "open", "close"):
            template = {"take": prompts.ROOM_NOT_TAKEABLE, "put": prompts.ROOM_NOT_PUTTABLE,
                        "open": prompts.ROOM_NOT_OPENABLE, "close": prompts.ROOM_NOT_CLOSABLE}[verb]
            return fail("manipulating_room", template.substitute(room=parsed.arg1))
        args["arg1"] = arg1
        if parsed.prep:
            args["prep"] = parsed.prep
        if parsed.arg2 is not None:
            if verb == "take" and parsed.arg2 == INVENTORY:
                if any(self.adventure.instance_type.get(item) == arg1 for item in self.inventory()):
                    return fail("taking_from_inventory", prompts.ALREADY_CARRIED.substitute(e=parsed.arg1), "resolution")
                return fail("taking_from_inventory", prompts.NO_TAKING_FROM_INVENTORY)
            arg2 = defs.label_to_type.get(parsed.arg2)
            if arg2 is None:
                return fail("undefined_repr_str", prompts.UNKNOWN_WORD.substitute(word=parsed.arg2))
            # clembench compares the room *type* with the current room's *label*, so e.g. "living room" never matches
            if arg2 in defs.room_types and arg2 != defs.label(self.adventure.instance_type[self.player_room()]):
                return fail("other_room_argument", prompts.OTHER_ROOM.substitute(room=parsed.arg2))
            args["arg2"] = arg2
        return action, args

    def _bind(self, action: Action, args: Mapping[str, str]) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for var, _, sources in action.params:
            value = None
            for source in sources:
                if source in args:
                    value = args[source]
                elif source == "arg1_receptacle":
                    value = self._holder(args["arg1"])
                elif source == "here":
                    value = self.player_room()
                elif source == "player":
                    value = PLAYER
                elif source == "inventory":
                    value = INVENTORY
                else:
                    continue
                break
            values[var] = value
        return values

    def _holder(self, type_name: str) -> str | None:
        """What the (first instance of the) type lies on or in; the most recent placement wins."""
        thing = self.adventure.first_instance.get(type_name)
        holder = None
        for fact in self.facts:
            if fact[0] in ("in", "on") and len(fact) == 3 and fact[1] == thing:
                holder = fact[2]
        return holder

    def _type_of(self, value: str) -> str:
        return self.adventure.instance_type.get(value, value) if _numbered(value) else value

    def _resolve(self, action: Action, args: Mapping[str, str]) -> Result:
        values = self._bind(action, args)
        for index, (var, required, _) in enumerate(action.params):
            value = values[var]
            if value is not None and not self.defs.type_matches(self._type_of(value), required):
                template = prompts.WRONG_TYPE.get(required, prompts.WRONG_TYPE_FALLBACK)
                feedback = template.substitute(value=self.adventure.label(value))
                return Result(False, feedback, action.name, "resolution", action.wrong_type[index])
        bound = {var: self.adventure.resolve(value) for var, value in values.items()}
        failed = self._first_failure(action.pre, bound)
        if failed is not None:
            names = {var: self.adventure.label(value) for var, value in bound.items()}
            feedback = prompts.PRECONDITION[failed["feedback"]].substitute(names)
            return Result(False, feedback, action.name, "resolution", failed["fail"])
        added, removed = self._apply(action.effect, bound)
        return Result(True, self._success_feedback(action, bound, args, added), action.name, removed=tuple(removed))

    # preconditions ----------------------------------------------------
    def _ground(self, fact: Iterable[str], bound: Mapping[str, str | None]) -> tuple:
        return tuple(bound.get(arg, arg) if i else arg for i, arg in enumerate(fact))

    def _leaf_holds(self, leaf: Mapping[str, Any], bound: Mapping[str, str | None]) -> bool:
        if "count_below" in leaf:
            name, var = leaf["count_below"]
            return self._count(name, bound[var]) < self.defs.inventory_capacity
        fact = self._ground(leaf["fact"], bound)
        # clembench counts a fact with an unresolved argument as true (it marks an optional argument)
        holds = None in fact or fact in self.facts
        return not holds if leaf.get("negated") else holds

    def _conjunction_failure(self, items: Iterable[Mapping[str, Any]], bound) -> Mapping[str, Any] | None:
        first = None
        for item in items:  # every fact is evaluated, as clembench does; the first failure explains
            if "any" in item:
                branch_failures = [self._conjunction_failure(branch, bound) for branch in item["any"]]
                failure = None if any(f is None for f in branch_failures) else branch_failures[0]
            else:
                failure = None if self._leaf_holds(item, bound) else item
            if failure is not None and first is None:
                first = failure
        return first

    def _first_failure(self, pre, bound) -> Mapping[str, Any] | None:
        return self._conjunction_failure(pre, bound)

    def _count(self, name: str, subject: str | None) -> int:
        for fact in self.facts:
            if fact[0] == name and len(fact) == 3 and fact[1] == subject:
                return fact[2]
        return 0

    # effects ---------------------------------------------------------
    def _apply(self, effects, bound) -> tuple[list[Fact], list[Fact]]:
        added: list[Fact] = []
        removed: list[Fact] = []
        for effect in effects:
            if "forall" in effect:
                var, kind = effect["forall"]
                for thing in (self.adventure.takeables if kind == "takeable" else ()):
                    self._apply_one(effect, {**bound, var: thing}, added, removed)
            else:
                self._apply_one(effect, bound, added, removed)
        return added, removed

    def _apply_one(self, effect, bound, added: list[Fact], removed: list[Fact]) -> None:
        for condition in effect.get("when", ()):
            fact = self._ground(condition, bound)
            if None not in fact and fact not in self.facts:
                return
        if "count" in effect:
            name, var = effect["count"]
            old = (name, bound[var], self._count(name, bound[var]))
            self.facts.pop(old, None)
            removed.append(old)
            new = (name, bound[var], old[2] + effect["by"])
            self.facts[new] = None
            added.append(new)
        for key, target in (("del", removed), ("add", added)):
            if key in effect:
                fact = self._ground(effect[key], bound)
                if None in fact:
                    continue
                if key == "del":
                    self.facts.pop(fact, None)
                else:
                    self.facts[fact] = None
                target.append(fact)
                if fact[0] == "at" and fact[1] == PLAYER:
                    self._room = None

    def _success_feedback(self, action: Action, bound, args, added: list[Fact]) -> str:
        label = self.adventure.label
        kind = action.success
        if kind == "arrived":
            return self.describe_room()
        if kind == "examined":
            return self.describe_entity(bound["e"])
        names = {var: label(value) for var, value in bound.items()}
        if kind == "opened":
            return prompts.SUCCESS[kind].substitute(names, contents=self.describe_contents(bound["e"]))
        if kind == "taken":
            return prompts.SUCCESS[kind].substitute(names, inventory=self.describe_inventory())
        if kind == "put":
            prep = args.get("prep") or next((f[0] for f in added if f[0] in ("in", "on")), "on")
            return prompts.SUCCESS[kind].substitute(names, prep=prep)
        return prompts.SUCCESS[kind].substitute(names)
