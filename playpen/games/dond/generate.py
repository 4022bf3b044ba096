"""Seeded dond instances in clembench v3.0's format (experiments ``<mode>_<language>``), with our own prompts.

Modes ``coop``, ``semi`` and ``comp`` in English, German and Italian. An instance has 3 or 4 item types, 5 to 7 items,
and gives each player secret values worth 10 points for all items together (as clembench's generator does). Item
names are lower-case (proposals are read lower-cased). Each split draws its item types from its own part of the
language's word list, so no instance is shared between train, validation and test.

Run ``playpen generate -g dond`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import random

MODES = ("coop", "semi", "comp")
LANGUAGES = ("en", "de", "it")
MAX_TURNS = 5
TOTAL_VALUE = 10
PER_EXPERIMENT = {"train": 20, "validation": 3, "test": 5}

#: (singular, plural) per language; test takes the first four, validation the next four, train the rest
ITEMS = {
    "en": [("book", "books"), ("hat", "hats"), ("ball", "balls"), ("cup", "cups"), ("key", "keys"),
           ("lamp", "lamps"), ("box", "boxes"), ("candle", "candles"), ("shell", "shells"), ("bottle", "bottles"),
           ("ribbon", "ribbons"), ("marble", "marbles"), ("kite", "kites"), ("mask", "masks")],
    "de": [("buch", "bücher"), ("hut", "hüte"), ("ball", "bälle"), ("tasse", "tassen"), ("lampe", "lampen"),
           ("kiste", "kisten"), ("kerze", "kerzen"), ("muschel", "muscheln"), ("flasche", "flaschen"),
           ("murmel", "murmeln"), ("vase", "vasen"), ("maske", "masken"), ("feder", "federn"), ("glocke", "glocken")],
    "it": [("libro", "libri"), ("cappello", "cappelli"), ("palla", "palle"), ("tazza", "tazze"), ("chiave", "chiavi"),
           ("lampada", "lampade"), ("scatola", "scatole"), ("candela", "candele"), ("conchiglia", "conchiglie"),
           ("bottiglia", "bottiglie"), ("nastro", "nastri"), ("biglia", "biglie"), ("maschera", "maschere"),
           ("campana", "campane")],
}
SPLIT_ITEMS = {"test": slice(0, 4), "validation": slice(4, 8), "train": slice(8, None)}

PROMPTS = {
    "en": {
        "initial": "Let's play a negotiation game. You and another player share these items: $ITEMS$.\n"
                   "What each kind of item is worth to you (the other player has secret values of their own): "
                   "$VALUE_FUNCTION$.\n{goal}\n"
                   "You may send up to $N$ messages each. Everything you write goes to the other player as it is, "
                   "except your secret proposal: when you are ready, write the items you want to keep in square "
                   "brackets, for example \"[Proposal: 2 {example}]\". If the two proposals together ask for no "
                   "more items than there are, each of you scores the worth of the items in their own proposal; "
                   "otherwise both score nothing. Use square brackets for nothing but your proposal.\n",
        "coop": "Your goal: make the sum of both players' scores as large as possible.",
        "semi": "Your goal: make your own score as large as possible.",
        "comp": "Your goal: end with as many more points than the other player as possible.",
        "early": "The other player has made their secret proposal. Now make yours, in square brackets.",
        "timeout": "No more messages now: make your secret proposal, in square brackets.",
    },
    "de": {
        "initial": "Wir spielen ein Verhandlungsspiel. Du und eine andere Person teilt euch diese Gegenstände: "
                   "$ITEMS$.\nSo viel ist dir jede Art von Gegenstand wert (die andere Person hat eigene, geheime "
                   "Werte): $VALUE_FUNCTION$.\n{goal}\n"
                   "Ihr dürft jeweils höchstens $N$ Nachrichten schicken. Alles, was du schreibst, geht unverändert an "
                   "die andere Person, außer deinem geheimen Vorschlag: Wenn du bereit bist, schreibe die Gegenstände, "
                   "die du behalten willst, in eckige Klammern, zum Beispiel \"[Vorschlag: 2 {example}]\". Verlangen "
                   "beide Vorschläge zusammen nicht mehr Gegenstände, als es gibt, bekommt jede Person den Wert der "
                   "Gegenstände ihres Vorschlags; sonst bekommen beide nichts. Benutze eckige Klammern nur für "
                   "deinen Vorschlag.\n",
        "coop": "Dein Ziel: Die Summe der Punkte beider Personen soll so groß wie möglich sein.",
        "semi": "Dein Ziel: Deine eigenen Punkte sollen so hoch wie möglich sein.",
        "comp": "Dein Ziel: Am Ende möglichst viel mehr Punkte zu haben als die andere Person.",
        "early": "Die andere Person hat ihren geheimen Vorschlag gemacht. Mache jetzt deinen, in eckigen Klammern.",
        "timeout": "Keine Nachrichten mehr: Mache jetzt deinen geheimen Vorschlag, in eckigen Klammern.",
    },
    "it": {
        "initial": "Giochiamo a un gioco di negoziazione. Tu e un'altra persona vi dividete questi oggetti: "
                   "$ITEMS$.\nQuanto vale per te ogni tipo di oggetto (l'altra persona ha valori suoi, segreti): "
                   "$VALUE_FUNCTION$.\n{goal}\n"
                   "Potete mandare al massimo $N$ messaggi ciascuno. Tutto ciò che scrivi arriva all'altra persona "
                   "così com'è, tranne la tua proposta segreta: quando sei pronto, scrivi gli oggetti che vuoi tenere "
                   "tra parentesi quadre, per esempio \"[Proposta: 2 {example}]\". Se le due proposte insieme non "
                   "chiedono più oggetti di quanti ce ne siano, ognuno ottiene il valore degli oggetti della propria "
                   "proposta; altrimenti nessuno ottiene nulla. Usa le parentesi quadre solo per la tua proposta.\n",
        "coop": "Il tuo obiettivo: rendere la somma dei punti di entrambi il più alta possibile.",
        "semi": "Il tuo obiettivo: rendere i tuoi punti il più alti possibile.",
        "comp": "Il tuo obiettivo: finire con il maggior vantaggio possibile sull'altra persona.",
        "early": "L'altra persona ha fatto la sua proposta segreta. Ora fai la tua, tra parentesi quadre.",
        "timeout": "Niente più messaggi: fai ora la tua proposta segreta, tra parentesi quadre.",
    },
}


def _values(counts: list[int], rng: random.Random) -> list[int]:
    """Values worth ``TOTAL_VALUE`` for all items together."""
    while True:
        values = [rng.randint(0, TOTAL_VALUE) for _ in counts]
        if sum(c * v for c, v in zip(counts, values)) == TOTAL_VALUE:
            return values


def instance(game_id: int, words: list[tuple[str, str]], rng: random.Random) -> dict:
    chosen = rng.sample(words, rng.choice((3, 4)))
    while True:
        counts = [rng.randint(1, 4) for _ in chosen]
        if 5 <= sum(counts) <= 7:
            break
    return {
        "game_id": game_id,
        "item_types": [single for single, _ in chosen],
        "item_types_plural": [plural for _, plural in chosen],
        "item_counts": counts,
        "player_a_values": _values(counts, rng),
        "player_b_values": _values(counts, rng),
    }


def experiment(mode: str, language: str, instances: list[dict]) -> dict:
    texts = PROMPTS[language]
    example = ITEMS[language][0][1]
    return {
        "name": f"{mode}_{language}",
        "mode": mode,
        "language": language,
        "max_turns": MAX_TURNS,
        "initial_prompt": texts["initial"].replace("{goal}", texts[mode]).replace("{example}", example),
        "proposal_early": texts["early"],
        "proposal_timeout": texts["timeout"],
        "game_instances": instances,
    }


def generate(seed: int = 0) -> dict[str, dict]:
    rng = random.Random(f"dond-{seed}")
    splits = {}
    for split in ("train", "validation", "test"):
        experiments = []
        for language in LANGUAGES:
            words = ITEMS[language][SPLIT_ITEMS[split]]
            for mode in MODES:
                instances = [instance(i, words, rng) for i in range(PER_EXPERIMENT[split])]
                experiments.append(experiment(mode, language, instances))
        splits[split] = {"experiments": experiments}
    return splits
