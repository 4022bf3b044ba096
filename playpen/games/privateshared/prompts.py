"""privateshared prompts, in our own words.

clembench's instances name a request phrasing and a probe phrasing per slot by index
(``requests[slot]``, ``probes[round][slot]``); the phrasings themselves live here. Each list is at
least as long as the largest index the official v2.0 instances use, and indices wrap around so that
any instance file loads.

An official instance carries the answerer's instructions (``initial_prompt``), which are then sent as they are.
The texts of clembench's requests and probes are not in its instance files (its game reads them from its own
resources), so those stay ours: ``docs/fidelity.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import Any, Mapping

from playpen.games.official import official_text

#: Protocol markers (clembench's): the answerer's two reply forms and the game master's probe tag.
ANSWER_TAG = "ANSWER:"
ASIDE_TAG = "ASIDE:"
ME_TAG = "ME:"

#: Probes are asked up to this many times; every retry adds a nudge after ``ME:``.
RETRY_NUDGES = (
    "",
    "Please read the question again.",
    "Please stick to the reply form I asked for.",
    "Please be precise this time.",
    "Please consider it once more.",
)

PROBE = "{me} {nudge}{question} Reply with yes or no and nothing else."
#: 2.0.0 appends a reminder to every request of the questioner.
REQUEST = "{tag}: {request} Reply to this question only, in one short sentence, then stop."

INTRO = Template(
    """$situation

WHAT: $what
$slot_lines

$partner_cap knows none of this yet.

$partner_cap will ask you questions that begin with $tag. Reply to those in this form: ANSWER: <one sentence>

I will ask you questions of my own as well; mine begin with ME: . Reply to mine in this form: ASIDE: <one sentence>

Keep all your replies short and direct.

Here we go."""
)


@dataclass(frozen=True)
class Scenario:
    situation: str
    what: str
    #: who asks the questions, e.g. "the travel agent"
    partner: str
    #: slot -> request phrasings (what the partner asks)
    requests: dict[str, list[str]]
    #: slot -> probe phrasings (whether the partner knows the slot's value yet)
    probes: dict[str, list[str]]


#: things-places: slot -> how the place reads in a question
PLACES = {
    "left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
    "center": "in the center", "northwest": "in the northwest", "northeast": "in the northeast",
    "southwest": "in the southwest", "southeast": "in the southeast", "here": "here", "there": "there",
    "nowhere": "nowhere", "everywhere": "everywhere", "inside": "inside", "outside": "outside",
}
#: letter-number: the slots
LETTERS = tuple("abcdefghij")

SCENARIOS: dict[str, Scenario] = {
    "travel-booking": Scenario(
        situation="You want to book a trip and are talking to a travel agent. These are the details of the trip you have in mind:",
        what="Trip",
        partner="the travel agent",
        requests={
            "from": ["Which city are you starting from?", "Where does your journey begin?",
                     "From where will you be leaving?", "What is your point of departure?",
                     "Which place do you set off from?"],
            "to": ["Where would you like to go?", "What is your destination?", "Which city are you travelling to?",
                   "Where does the trip take you?", "Where do you want to end up?"],
            "by": ["How would you like to travel?", "Which means of transport do you prefer?",
                   "How do you plan to get there?", "What kind of transport should I book?",
                   "Do you have a preferred way of travelling?"],
            "class": ["Which class would you like to travel in?", "What class should the ticket be?",
                      "Do you have a class preference?", "Which travel class do you want?",
                      "In what class shall I book you?"],
            "when": ["When would you like to travel?", "On what date do you want to leave?",
                     "When does your trip start?", "What are your travel dates?", "When should I book the trip for?"],
        },
        probes={
            "from": ["Does the travel agent know where your trip starts?",
                     "Have you told the travel agent your point of departure?",
                     "Is the travel agent aware of the city you leave from?",
                     "Does the travel agent already know your starting point?",
                     "Has the travel agent learned where you set off from?",
                     "Could the travel agent say which city you depart from?",
                     "Have you mentioned your departure city to the travel agent?",
                     "Is your place of departure known to the travel agent?",
                     "Does the travel agent have your departure location?",
                     "Would the travel agent know where your journey begins?"],
            "to": ["Does the travel agent know where you are going?",
                   "Have you told the travel agent your destination?",
                   "Is the travel agent aware of the city you travel to?",
                   "Does the travel agent already know your destination?",
                   "Has the travel agent learned where the trip ends?",
                   "Could the travel agent say where you want to go?",
                   "Have you mentioned your destination to the travel agent?",
                   "Is your destination known to the travel agent?",
                   "Does the travel agent have your arrival city?",
                   "Would the travel agent know where you are heading?"],
            "by": ["Does the travel agent know how you want to travel?",
                   "Have you told the travel agent your means of transport?",
                   "Is the travel agent aware of the transport you prefer?",
                   "Does the travel agent already know how you will get there?",
                   "Has the travel agent learned which kind of transport you want?",
                   "Could the travel agent say how you plan to travel?",
                   "Have you mentioned your preferred transport to the travel agent?",
                   "Is your choice of transport known to the travel agent?",
                   "Does the travel agent have your transport preference?",
                   "Would the travel agent know which vehicle to book?"],
            "class": ["Does the travel agent know which class you want?",
                      "Have you told the travel agent your preferred class?",
                      "Is the travel agent aware of the travel class you chose?",
                      "Does the travel agent already know the class of your ticket?",
                      "Has the travel agent learned which class to book?",
                      "Could the travel agent say what class you travel in?",
                      "Have you mentioned the travel class to the travel agent?",
                      "Is your class preference known to the travel agent?",
                      "Does the travel agent have your seating class?",
                      "Would the travel agent know which class of ticket you want?"],
            "when": ["Does the travel agent know when you want to travel?",
                     "Have you told the travel agent your travel dates?",
                     "Is the travel agent aware of when the trip starts?",
                     "Does the travel agent already know your date of departure?",
                     "Has the travel agent learned when you leave?",
                     "Could the travel agent say when you are travelling?",
                     "Have you mentioned the timing of the trip to the travel agent?",
                     "Is the date of your trip known to the travel agent?",
                     "Does the travel agent have your travel date?",
                     "Would the travel agent know when to book the trip for?"],
        },
    ),
    "job-interview": Scenario(
        situation="You are applying for a job and are being interviewed by a recruiter. This is what your CV says:",
        what="Job application",
        partner="the recruiter",
        requests={
            "bachelor": ["What did you study for your first degree?", "In which subject is your bachelor's degree?",
                         "What was your undergraduate subject?", "Which field did you do your bachelor's in?",
                         "What did you major in?"],
            "industry-experience": ["How much experience in industry do you have?",
                                    "How long have you worked in industry?",
                                    "How many years have you spent working in industry?",
                                    "What is your industry experience?",
                                    "For how long have you had a job in industry?"],
            "highest-education": ["What is your highest degree?", "How far did you go with your education?",
                                  "What is the highest qualification you hold?",
                                  "Which degree did you finish last?", "What is your top academic title?"],
            "other-skills": ["What other skills do you bring?", "Is there any further skill you would like to mention?",
                             "Which additional skills do you have?", "What else are you good at?",
                             "Do you have any special skills besides your studies?"],
            "availability": ["When could you start?", "From when are you available?",
                             "What is your earliest starting date?", "When would you be free to take the job?",
                             "How soon can you begin working here?"],
        },
        probes={
            "bachelor": ["Does the recruiter know what your first degree is in?",
                         "Have you told the recruiter the subject of your bachelor's degree?",
                         "Is the recruiter aware of what you studied as an undergraduate?",
                         "Does the recruiter already know your bachelor's subject?",
                         "Has the recruiter learned what you majored in?",
                         "Could the recruiter name the field of your first degree?",
                         "Have you mentioned your undergraduate subject to the recruiter?"],
            "industry-experience": ["Does the recruiter know how long you have worked in industry?",
                                    "Have you told the recruiter about your industry experience?",
                                    "Is the recruiter aware of your years in industry?",
                                    "Does the recruiter already know your amount of industry experience?",
                                    "Has the recruiter learned how much industry experience you have?",
                                    "Could the recruiter say how long you worked in industry?",
                                    "Have you mentioned your time in industry to the recruiter?"],
            "highest-education": ["Does the recruiter know your highest degree?",
                                  "Have you told the recruiter your highest qualification?",
                                  "Is the recruiter aware of how far your education goes?",
                                  "Does the recruiter already know your top academic title?",
                                  "Has the recruiter learned which degree you finished last?",
                                  "Could the recruiter name your highest level of education?",
                                  "Have you mentioned your highest qualification to the recruiter?"],
            "other-skills": ["Does the recruiter know about your other skills?",
                             "Have you told the recruiter about your additional skill?",
                             "Is the recruiter aware of the extra skill you have?",
                             "Does the recruiter already know what else you are good at?",
                             "Has the recruiter learned about your further skills?",
                             "Could the recruiter name your additional skill?",
                             "Have you mentioned your extra skill to the recruiter?"],
            "availability": ["Does the recruiter know when you could start?",
                             "Have you told the recruiter your starting date?",
                             "Is the recruiter aware of when you are available?",
                             "Does the recruiter already know your earliest start?",
                             "Has the recruiter learned from when you are free?",
                             "Could the recruiter say when you can begin?",
                             "Have you mentioned your availability to the recruiter?"],
        },
    ),
    "restaurant": Scenario(
        situation="You are having dinner in a restaurant and a waiter takes your order. This is what you would like:",
        what="Dinner order",
        partner="the waiter",
        requests={
            "appetizer": ["What would you like as a starter?", "Which appetizer can I bring you?",
                          "Would you like something to start with?", "What shall we serve you first?",
                          "Which starter do you fancy?"],
            "drink": ["What would you like to drink?", "Which drink can I bring you?",
                      "Anything to drink for you?", "What shall I pour for you?", "What are you drinking tonight?"],
            "main-dish": ["What would you like as your main course?", "Which main dish can I bring you?",
                          "What are you having for the main course?", "Which dish would you like as a main?",
                          "What shall the kitchen prepare as your main?"],
            "dessert": ["What would you like for dessert?", "Which dessert can I bring you?",
                        "Something sweet at the end?", "What shall we serve you after the main course?",
                        "Which dessert do you fancy?"],
            "salad": ["Which salad would you like?", "Can I bring you a salad, and which one?",
                      "What kind of salad are you having?", "Which salad shall I bring?",
                      "What salad would go with your meal?"],
        },
        probes={
            "appetizer": ["Does the waiter know which starter you want?",
                          "Have you told the waiter your appetizer?",
                          "Is the waiter aware of what you want to start with?",
                          "Does the waiter already know your choice of appetizer?",
                          "Has the waiter learned which starter to bring?"],
            "drink": ["Does the waiter know what you want to drink?",
                      "Have you told the waiter your drink?",
                      "Is the waiter aware of which drink you want?",
                      "Does the waiter already know your choice of drink?",
                      "Has the waiter learned what to pour for you?"],
            "main-dish": ["Does the waiter know which main course you want?",
                          "Have you told the waiter your main dish?",
                          "Is the waiter aware of what you want as a main?",
                          "Does the waiter already know your choice of main course?",
                          "Has the waiter learned which main dish to bring?"],
            "dessert": ["Does the waiter know which dessert you want?",
                        "Have you told the waiter your dessert?",
                        "Is the waiter aware of what you want after the main course?",
                        "Does the waiter already know your choice of dessert?",
                        "Has the waiter learned which sweet to bring?"],
            "salad": ["Does the waiter know which salad you want?",
                      "Have you told the waiter your salad?",
                      "Is the waiter aware of the kind of salad you want?",
                      "Does the waiter already know your choice of salad?",
                      "Has the waiter learned which salad to bring?"],
        },
    ),
    "things-places": Scenario(
        situation="Some things have been put in different places. Here is where everything is:",
        what="Things and their places",
        partner="the questioner",
        requests={slot: [f"What is {place}?", f"Which thing is {place}?"] for slot, place in PLACES.items()},
        probes={
            slot: [f"Does the questioner know what is {place}?", f"Have you told the questioner which thing is {place}?"]
            for slot, place in PLACES.items()
        },
    ),
    "letter-number": Scenario(
        situation="Each letter below has been given a number. Here is the mapping:",
        what="Numbers for letters",
        partner="the questioner",
        requests={
            letter: [f"Which number does the letter {letter.upper()} have?",
                     f"What number was given to {letter.upper()}?"]
            for letter in LETTERS
        },
        probes={
            letter: [f"Does the questioner know the number of the letter {letter.upper()}?",
                     f"Have you told the questioner which number {letter.upper()} has?"]
            for letter in LETTERS
        },
    ),
}

#: used for experiments we do not know (slot names become the topic of the questions)
GENERIC = Scenario(
    situation="Here are some facts that only you know so far:",
    what="Facts",
    partner="the questioner",
    requests={},
    probes={},
)


def scenario(experiment_name: str) -> Scenario:
    return SCENARIOS.get(experiment_name, GENERIC)


def intro(scene: Scenario, tag: str, slots: dict[str, str], instance: Mapping[str, Any]) -> str:
    """The answerer's instructions: an official instance's ``initial_prompt`` as it is, else ours."""
    official = official_text(instance, "initial_prompt")
    if official is not None:
        return official
    lines = "\n".join(f"{slot.upper()}: {value}" for slot, value in slots.items())
    partner = scene.partner[0].upper() + scene.partner[1:]
    return INTRO.substitute(situation=scene.situation, what=scene.what, slot_lines=lines, partner_cap=partner, tag=tag)


def request_text(scene: Scenario, tag: str, slot: str, index: int) -> str:
    phrasings = scene.requests.get(slot) or [f"What is your {slot.replace('-', ' ')}?"]
    return REQUEST.format(tag=tag, request=phrasings[index % len(phrasings)])


def probe_phrasings(scene: Scenario, slot: str) -> list[str]:
    return scene.probes.get(slot) or [f"Does {scene.partner} know your {slot.replace('-', ' ')}?"]


def probe_question(scene: Scenario, slot: str, index: int) -> str:
    phrasings = probe_phrasings(scene, slot)
    return phrasings[index % len(phrasings)]


def probe_text(question: str, attempt: int) -> str:
    """The probe as sent on ``attempt`` (1-based); retries carry a nudge after ``ME:``."""
    nudge = RETRY_NUDGES[attempt - 1]
    return PROBE.format(me=ME_TAG, nudge=f"{nudge} " if nudge else "", question=question)


def probed_slot(scene: Scenario, slots: list[str], text: str) -> str | None:
    """Which slot a probe message asks about (the longest phrasing found in it), or None."""
    found = [(len(q), slot) for slot in slots for q in probe_phrasings(scene, slot) if q in text]
    return max(found)[1] if found else None
