"""The English Snowball ("Porter2") stemmer exactly as clembench v2.0 ran it (NLTK 3.8.1's
``SnowballStemmer("english")``).

Why not the ``snowballstemmer`` package: its 3.x releases implement a revised English algorithm that stems
common words differently (``university`` -> ``universiti`` instead of ``univers``, ``organization`` ->
``organiz`` instead of ``organ``, ``evening`` stays ``evening`` instead of ``even``, ``added`` -> ``add``
instead of ``ad``), and taboo's win/lose decision depends on exact stem equality. This module follows the
original algorithm plus NLTK's conventions: words of at most two letters are returned unchanged, curly
apostrophes count as ``'``, and R1/R2 are tracked as suffix strings that are cut and extended together with
the word (NLTK's bookkeeping, which differs from fixed region offsets for a few words such as
``generationally``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

VOWELS = "aeiouy"
DOUBLE_CONSONANTS = ("bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt")
LI_ENDINGS = "cdeghkmnrt"

#: Whole words the algorithm stems by lookup (irregular forms and words it would otherwise over-stem).
WHOLE_WORD_STEMS = {
    "skis": "ski", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie",
    "idly": "idl", "gently": "gentl", "ugly": "ugli", "early": "earli", "only": "onli", "singly": "singl",
    "sky": "sky", "news": "news", "howe": "howe", "atlas": "atlas", "cosmos": "cosmos", "bias": "bias",
    "andes": "andes",
    **{form: base for base in ("inning", "outing", "canning", "herring", "earring") for form in (base, base + "s")},
    **{form: base for base in ("proceed", "exceed", "succeed")
       for form in (base, base + "s", base + "ed", base + "ing")},
}

#: Prefixes whose R1 starts right after them instead of at the usual place.
R1_PREFIXES = ("gener", "commun", "arsen")


@dataclass
class _Word:
    """The word being stemmed with its regions R1 and R2, both kept as suffixes of it."""

    text: str
    r1: str
    r2: str

    def cut(self, length: int, new: str = "", r2_fallback: str = "") -> None:
        """Drop the last ``length`` letters and append ``new``, in the word and in both regions; a region
        shorter than the cut becomes empty (R2: ``r2_fallback``)."""
        self.text = self.text[: len(self.text) - length] + new
        self.r1 = self.r1[: len(self.r1) - length] + new if len(self.r1) >= length else ""
        self.r2 = self.r2[: len(self.r2) - length] + new if len(self.r2) >= length else r2_fallback

    def ends_short_syllable(self) -> bool:
        w = self.text
        if len(w) >= 3:
            return w[-1] not in VOWELS and w[-1] not in "wxY" and w[-2] in VOWELS and w[-3] not in VOWELS
        return len(w) == 2 and w[0] in VOWELS and w[1] not in VOWELS


def _region_after_vowel_consonant(text: str) -> str:
    for i in range(1, len(text)):
        if text[i] not in VOWELS and text[i - 1] in VOWELS:
            return text[i + 1:]
    return ""


def _mark_consonant_y(word: str) -> str:
    """An initial ``y`` and a ``y`` after a vowel act as consonants: write them ``Y``."""
    letters = list(word)
    if letters and letters[0] == "y":
        letters[0] = "Y"
    for i in range(1, len(letters)):
        if letters[i] == "y" and letters[i - 1] in VOWELS:
            letters[i] = "Y"
    return "".join(letters)


def _has_vowel(text: str) -> bool:
    return any(letter in VOWELS for letter in text)


# A rule: (letters to cut, text to append, R2 fallback, extra condition on the word or None)
_Rule = tuple[int, str, str, Callable[[_Word], bool] | None]

# Steps 2 and 3: the first suffix (in this order) the word ends with is the only one considered; it is
# rewritten when it lies in R1 and its condition holds.
_STEP2: dict[str, _Rule] = {
    "ization": (7, "ize", "", None),
    "ational": (7, "ate", "e", None),
    "fulness": (4, "", "", None),
    "ousness": (7, "ous", "", None),
    "iveness": (7, "ive", "e", None),
    "tional": (2, "", "", None),
    "biliti": (6, "ble", "", None),
    "lessli": (2, "", "", None),
    "entli": (2, "", "", None),
    "ation": (5, "ate", "e", None),
    "alism": (5, "al", "", None),
    "aliti": (5, "al", "", None),
    "ousli": (5, "ous", "", None),
    "iviti": (5, "ive", "e", None),
    "fulli": (2, "", "", None),
    "enci": (1, "e", "", None),
    "anci": (1, "e", "", None),
    "abli": (1, "e", "", None),
    "izer": (4, "ize", "", None),
    "ator": (4, "ate", "e", None),
    "alli": (4, "al", "", None),
    "bli": (3, "ble", "", None),
    "ogi": (1, "", "", lambda w: w.text[-4] == "l"),
    "li": (2, "", "", lambda w: w.text[-3] in LI_ENDINGS),
}
_STEP3: dict[str, _Rule] = {
    "ational": (7, "ate", "", None),
    "tional": (2, "", "", None),
    "alize": (3, "", "", None),
    "icate": (5, "ic", "", None),
    "iciti": (5, "ic", "", None),
    "ative": (5, "", "", lambda w: w.r2.endswith("ative")),
    "ical": (4, "ic", "", None),
    "ness": (4, "", "", None),
    "ful": (3, "", "", None),
}
# Step 4: the first suffix the word ends with is deleted when it lies in R2.
_STEP4 = ("ement", "ance", "ence", "able", "ible", "ment", "ant", "ent", "ism", "ate", "iti", "ous", "ive",
          "ize", "ion", "al", "er", "ic")


def stem(word: str) -> str:
    """The Porter2 stem of ``word`` (lower-cased)."""
    word = word.lower()
    if len(word) <= 2:
        return word
    if word in WHOLE_WORD_STEMS:
        return WHOLE_WORD_STEMS[word]
    word = word.replace("\u2019", "'").replace("\u2018", "'").replace("\u201b", "'")
    if word.startswith("'"):
        word = word[1:]
    word = _mark_consonant_y(word)
    prefix = next((p for p in R1_PREFIXES if word.startswith(p)), None)
    r1 = word[len(prefix):] if prefix else _region_after_vowel_consonant(word)
    w = _Word(word, r1, _region_after_vowel_consonant(r1))
    _step0(w)
    _step1a(w)
    _step1b(w)
    if len(w.text) > 2 and w.text[-1] in "yY" and w.text[-2] not in VOWELS:  # step 1c
        w.cut(1, "i")
    _apply_first_rule(w, _STEP2)
    _apply_first_rule(w, _STEP3)
    _step4(w)
    _step5(w)
    return w.text.replace("Y", "y")


def _step0(w: _Word) -> None:
    for suffix in ("'s'", "'s", "'"):
        if w.text.endswith(suffix):
            w.cut(len(suffix))
            return


def _step1a(w: _Word) -> None:
    text = w.text
    if text.endswith("sses"):
        w.cut(2)
    elif text.endswith(("ied", "ies")):
        w.cut(2 if len(text) > 4 else 1)
    elif text.endswith(("us", "ss")):
        pass
    elif text.endswith("s") and _has_vowel(text[:-2]):
        w.cut(1)


def _step1b(w: _Word) -> None:
    suffix = next((s for s in ("eedly", "ingly", "edly", "eed", "ing", "ed") if w.text.endswith(s)), None)
    if suffix is None:
        return
    if suffix in ("eed", "eedly"):
        if w.r1.endswith(suffix):
            w.cut(len(suffix), "ee")
        return
    if not _has_vowel(w.text[: -len(suffix)]):
        return
    w.cut(len(suffix))
    if w.text.endswith(("at", "bl", "iz")):
        w.text += "e"
        w.r1 += "e"
        if len(w.text) > 5 or len(w.r1) >= 3:
            w.r2 += "e"
    elif w.text.endswith(DOUBLE_CONSONANTS):
        w.cut(1)
    elif w.r1 == "" and w.ends_short_syllable():
        w.text += "e"  # R1 is empty here, and so is R2: neither grows


def _apply_first_rule(w: _Word, rules: dict[str, _Rule]) -> None:
    suffix = next((s for s in rules if w.text.endswith(s)), None)
    if suffix is None or not w.r1.endswith(suffix):
        return
    length, new, r2_fallback, condition = rules[suffix]
    if condition is None or condition(w):
        w.cut(length, new, r2_fallback)


def _step4(w: _Word) -> None:
    suffix = next((s for s in _STEP4 if w.text.endswith(s)), None)
    if suffix is None or not w.r2.endswith(suffix):
        return
    if suffix != "ion" or w.text[-4] in "st":
        w.cut(len(suffix))


def _step5(w: _Word) -> None:
    text = w.text
    if w.r2.endswith("l") and text[-2] == "l":
        w.text = text[:-1]
    elif w.r2.endswith("e"):
        w.text = text[:-1]
    elif w.r1.endswith("e") and len(text) >= 4 and (
        text[-2] in VOWELS or text[-2] in "wxY" or text[-3] not in VOWELS or text[-4] in VOWELS
    ):
        w.text = text[:-1]
