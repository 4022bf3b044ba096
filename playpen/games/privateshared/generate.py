"""Seeded instance generator for privateshared (clembench v2.0 experiments and instance fields).

Slot values are our own. Within an instance no value contains another (so that saying one value never
counts as saying another), and no slot assignment occurs twice across all splits.

Run ``python -m playpen.games.privateshared.generate [seed]`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import random
from typing import Any

from playpen.games.privateshared import prompts

#: instances per experiment; test matches clembench v2.0
SPLIT_SIZES = {"train": 30, "validation": 3, "test": 10}

TAGS = {
    "travel-booking": "TRAVEL-AGENT",
    "job-interview": "RECRUITER",
    "restaurant": "WAITER",
    "things-places": "QUESTIONER",
    "letter-number": "QUESTIONER",
}

SLOT_VALUES: dict[str, dict[str, list[str]]] = {
    "travel-booking": {
        "from": ["Berlin", "Vienna", "Amsterdam", "Dublin", "Oslo", "Warsaw", "Zurich", "Edinburgh", "Milan",
                 "Copenhagen", "Budapest", "Helsinki"],
        "to": ["Barcelona", "Athens", "Krakow", "Porto", "Seville", "Florence", "Bruges", "Geneva", "Tallinn",
               "Valencia", "Naples", "Salzburg"],
        "by": ["Train", "Plane", "Ferry", "Coach", "Rental car", "Bicycle", "Motorbike", "Sailboat"],
        "class": ["First", "Business", "Economy", "Cheapest available", "Most flexible", "Premium"],
        "when": ["Next Friday", "In three weeks", "On June 3", "Early in October", "The day after tomorrow",
                 "On New Year's Eve", "In late March", "Over the Easter holidays", "On September 21"],
    },
    "job-interview": {
        "bachelor": ["Biology", "Physics", "History", "Philosophy", "Psychology", "Architecture", "Linguistics",
                     "Geography", "Sociology", "Statistics"],
        "industry-experience": ["Four years", "Six months", "Ten years", "Eighteen months", "Two and a half years",
                                "Twelve years", "None at all", "Seven years"],
        "highest-education": ["High school diploma", "Bachelor's degree", "Master's degree", "Doctorate",
                              "Habilitation"],
        "other-skills": ["Italian", "Carpentry", "Public speaking", "Rust programming", "Photography",
                         "Sign language", "Accounting", "Chess"],
        "availability": ["Immediately", "From March 1", "In one month", "After the summer", "From next Monday",
                         "In six weeks", "At the start of December"],
    },
    "restaurant": {
        "appetizer": ["Garlic bread", "Spring rolls", "Calamari", "Nachos", "Edamame", "Stuffed peppers",
                      "Onion rings", "Dumplings"],
        "drink": ["Sparkling water", "Apple juice", "Iced tea", "Lemonade", "Red wine", "Ginger ale", "Espresso",
                  "Milkshake"],
        "main-dish": ["Risotto", "Ramen", "Paella", "Goulash", "Tacos", "Moussaka", "Pad thai", "Schnitzel"],
        "dessert": ["Cheesecake", "Panna cotta", "Chocolate mousse", "Baklava", "Sorbet", "Carrot cake",
                    "Apple strudel", "Rice pudding"],
        "salad": ["Greek", "Caprese", "Waldorf", "Cobb", "Coleslaw", "Quinoa", "Spinach", "Potato"],
    },
}

#: things-places draws its 15 values from one pool
THINGS = [
    "umbrella", "teapot", "compass", "violin", "lantern", "hammer", "giraffe", "cactus", "kettle", "trumpet",
    "penguin", "lemon", "candle", "stapler", "raincoat", "sunflower", "owl", "rake", "harmonica", "zebra",
    "papaya", "sandals", "ruler", "thermos", "feather", "globe", "anchor", "walnut", "scarf", "drum", "koala",
    "spatula", "magnet", "parrot", "cherry", "helmet", "binoculars", "lobster", "broom", "kiwi", "mittens",
    "flashlight", "cello", "tortoise", "peach", "wallet", "ladle", "dolphin", "saddle", "hourglass", "beetle",
    "pumpkin", "notebook", "clarinet", "flamingo", "coconut", "necklace", "doormat", "camel", "radish",
    "toaster", "banjo", "squirrel", "mango", "slippers", "trowel", "microscope", "plum", "bucket", "oboe",
    "otter", "apricot", "pillow", "tweezers", "harp", "raccoon", "fig", "sponge", "whistle", "yak",
]


def _overlapping(values: list[str]) -> bool:
    lowered = [v.lower() for v in values]
    return any(a != b and a in b for a in lowered for b in lowered) or len(set(lowered)) < len(lowered)


def _slot_values(experiment: str, rng: random.Random) -> dict[str, str]:
    if experiment == "things-places":
        return dict(zip(prompts.PLACES, rng.sample(THINGS, len(prompts.PLACES))))
    if experiment == "letter-number":
        numbers: set[str] = set()
        while len(numbers) < len(prompts.LETTERS):
            numbers.add(f"{rng.randrange(10_000):04d}")
        return dict(zip(prompts.LETTERS, rng.sample(sorted(numbers), len(numbers))))
    return {slot: rng.choice(values) for slot, values in SLOT_VALUES[experiment].items()}


def make_instance(experiment: str, game_id: int, rng: random.Random, seen: set) -> dict[str, Any]:
    scene = prompts.SCENARIOS[experiment]
    while True:
        slots = _slot_values(experiment, rng)
        key = (experiment, tuple(slots.items()))
        if key not in seen and not _overlapping(list(slots.values())):
            seen.add(key)
            break
    names = list(slots)
    return {
        "game_id": game_id,
        "tag": TAGS[experiment],
        "slots": slots,
        "request_order": rng.sample(names, len(names)),
        "requests": {slot: rng.randrange(len(scene.requests[slot])) for slot in names},
        "probes": {
            str(round_): {slot: rng.randrange(len(prompts.probe_phrasings(scene, slot))) for slot in names}
            for round_ in range(len(names) + 1)
        },
        "lang": "en",
    }


def generate(seed: int = 0) -> dict[str, dict]:
    seen: set = set()
    splits: dict[str, dict] = {}
    for split, size in SPLIT_SIZES.items():
        experiments = []
        for experiment in TAGS:
            rng = random.Random(f"privateshared-{seed}-{split}-{experiment}")
            instances = [make_instance(experiment, game_id, rng, seen) for game_id in range(size)]
            experiments.append({"name": experiment, "game_instances": instances})
        splits[split] = {"experiments": experiments}
    return splits
