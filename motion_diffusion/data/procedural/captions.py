"""HumanML3D-style captions and ``word/POS`` tokens for procedurally generated clips.

Each family turns its parameters into several verb phrases (speed words, directions, left/right, counts); a
caption is a subject plus one phrase per segment joined with "then". Tokens follow HumanML3D's texts:
alphabetic words only, nouns and verbs lemmatised except the word "left", universal POS tags. There is no
tagger here: the small :data:`LEXICON` covers every word the templates use. A template may pin a word's tag
with ``word|TAG`` where the word's part of speech depends on context ("turns left|ADV" but "the left arm").

Left/right always name the character's own side: a left turn is counter-clockwise seen from above.
"""

from __future__ import annotations

import re

import numpy as np

_POS_WORDS = {
    "DET": "a an the his her their both another all",
    "PRON": "someone that",
    "AUX": "is",
    "CCONJ": "and",
    "SCONJ": "while as",
    "ADP": "to with in of above at along from into over on after",
    "NUM": "two three four five six",
    "ADJ": "slow normal steady quick fast big small regular few several light relaxed brisk long high low "
    "deep shallow full half left right short quarter little",
    "ADV": "far forward forwards ahead backward backwards sideways around up down then slowly quickly "
    "briskly leisurely lightly steadily fast straight slightly deeply twice once again back high low "
    "clockwise counterclockwise out still left right idle first",
}
_NOUNS = (  # word or word:lemma
    "person man woman human pace step steps:step time times:time turn curve circle place arm arms:arm "
    "hand hands:hand head shoulder height side leg legs:leg foot feet:foot kick punch jump hop squat bow "
    "front waist weight fist fists:fist spot stop way bit"
)
_VERBS = (  # word:lemma
    "walks:walk walking:walk jogs:jog jogging:jog runs:run running:run sprints:sprint dashes:dash "
    "jumps:jump jumping:jump leaps:leap hops:hop squats:squat squatting:squat raises:raise raising:raise "
    "lifts:lift lifting:lift puts:put waves:wave waving:wave kicks:kick kicking:kick punches:punch "
    "punching:punch throws:throw bows:bow bowing:bow bends:bend bending:bend turns:turn turning:turn "
    "rotates:rotate spins:spin spinning:spin stands:stand standing:stand shifts:shift shifting:shift "
    "looks:look looking:look takes:take moves:move moving:move makes:make does:do stops:stop comes:come "
    "curving:curve curves:curve veers:veer shuffles:shuffle sidesteps:sidestep holds:hold lowers:lower "
    "stretched:stretch extended:extend crouches:crouch goes:go swings:swing circles:circle "
    "alternating:alternate"
)


def _lexicon() -> dict[str, tuple[str, str]]:
    lex: dict[str, tuple[str, str]] = {}
    for pos, words in _POS_WORDS.items():
        for word in words.split():
            lex.setdefault(word, (word, pos))
    for pos, words in (("NOUN", _NOUNS), ("VERB", _VERBS)):
        for item in words.split():
            word, _, lemma = item.partition(":")
            lex.setdefault(word, (lemma or word, pos))
    return lex


LEXICON: dict[str, tuple[str, str]] = _lexicon()  # word -> (lemma, default universal POS tag)
POS_TAGS = frozenset(_POS_WORDS) | {"NOUN", "VERB", "PROPN"}
_TOKEN = re.compile(r"([a-z]+)(?:\|([A-Z]+))?")

SUBJECTS = (
    ("a person", "his"), ("someone", "his"), ("a man", "his"), ("the man", "his"), ("the person", "their"),
    ("a woman", "her"), ("the woman", "her"), ("a human", "their"),
)  # fmt: skip
CONNECTORS = (", then ", " and then ", ", and then ", " then ", ", after that ")
COUNT_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def tokenize(text: str) -> tuple[str, list[str]]:
    """Caption text (tag pins removed) and its HumanML3D-style ``word/POS`` tokens."""
    tokens = []
    for word, pinned in _TOKEN.findall(text):
        if word not in LEXICON:
            raise ValueError(f"caption word {word!r} is not in the procedural lexicon; add it in captions.py")
        lemma, pos = LEXICON[word]
        pos = pinned or pos
        if pos not in POS_TAGS:
            raise ValueError(f"unknown POS tag {pos!r} pinned to {word!r}")
        keep_form = pos not in ("NOUN", "VERB") or word == "left"
        tokens.append(f"{word if keep_form else lemma}/{pos}")
    return re.sub(r"\|[A-Z]+", "", text), tokens


def _count(n: int) -> str:
    return COUNT_WORDS[n]


def _side_turn(side: str, angle: float) -> list[str]:
    """Verb phrases for turning by ``angle`` degrees towards ``side``."""
    if angle >= 150:
        return ["turns around", f"turns all the way around to the {side}|NOUN"]
    if angle < 70:
        return [f"turns slightly {side}|ADV", f"veers {side}|ADV", f"turns a little to the {side}|NOUN"]
    return [f"turns {side}|ADV", f"turns to the {side}|NOUN", f"makes a {side} turn"]


def _gait_phrases(p: dict, bases: list[str]) -> list[str]:
    """Locomotion phrases: each base phrase with the path (turn, curve) or with a stop."""
    path = p.get("path", "straight")
    side = p.get("side")
    out = []
    for base in bases:
        if path == "turn":
            for turn in _side_turn(side, p["turn_deg"]):
                out += [f"{base}, then {turn}", f"{base} and {turn}"]
        elif path == "curve":
            bend = "veers slightly" if p["curve_deg_per_s"] * p["seconds"] < 60 else "curves"
            out += [f"{base} and {bend} to the {side}|NOUN", f"{base}, curving to the {side}|NOUN"]
        else:
            out += [base, f"{base} and stops", f"{base}, then comes to a stop|NOUN"]
    return out


def _walk(p: dict) -> list[str]:
    if p["speed"] < 1.05:
        bases = [
            "walks slowly",
            "walks forward slowly",
            "walks forward at a slow pace",
            "takes a few slow steps",
        ]
    elif p["speed"] > 1.35:
        bases = [
            "walks quickly",
            "walks forward quickly",
            "walks briskly",
            "takes a few quick steps forward",
        ]
    else:
        bases = [
            "walks forward",
            "walks straight|ADV ahead",
            "walks forward at a normal pace",
            "takes a few steps",
        ]
    return _gait_phrases(p, bases)


def _jog(p: dict) -> list[str]:
    bases = ["jogs forward", "jogs ahead", "jogs lightly", "jogs at a relaxed pace", "runs slowly"]
    return _gait_phrases(p, bases)


def _run(p: dict) -> list[str]:
    if p["speed"] > 3.4:
        bases = ["runs fast|ADV", "sprints forward", "dashes ahead", "runs forward quickly"]
        return _gait_phrases(p, bases)
    return _gait_phrases(p, ["runs forward", "runs ahead", "runs", "runs quickly"])


def _walk_backward(p: dict) -> list[str]:
    speed = "slowly" if p["speed"] < 0.75 else "quickly" if p["speed"] > 0.95 else ""
    out = [f"walks backwards {speed}", f"walks backward {speed}", f"takes a few steps backwards {speed}",
           f"moves backwards {speed}", f"steps|VERB back {speed}"]  # fmt: skip
    return [" ".join(s.split()) for s in out]


def _side_step(p: dict) -> list[str]:
    side = p["side"]
    many = NUMBER_WORDS.get(p["steps"], "a few") if p["steps"] <= 3 else "several"
    return [f"sidesteps to the {side}|NOUN", f"steps|VERB sideways to the {side}|NOUN",
            f"takes {many} steps to the {side}|NOUN", f"shuffles sideways to the {side}|NOUN",
            f"moves sideways to the {side}|NOUN", f"sidesteps {side}|ADV"]  # fmt: skip


def _jump(p: dict) -> list[str]:
    n = p["count"]
    high = " high|ADV" if p["height"] > 0.25 else ""
    times = "" if n == 1 else f" {_count(n)}"
    if p["mode"] == "forward":
        far = "far " if p["distance"] > 0.7 else ""
        out = [f"jumps {far}forward{times}", f"leaps forward{times}", f"jumps ahead{times}",
               f"jumps forward with both feet{times}"]  # fmt: skip
    else:
        out = [f"jumps in place{times}", f"jumps{high} in place{times}", f"jumps straight up{times}",
               f"hops on the spot{times}" if p["height"] < 0.15 else f"jumps up{high}{times}"]  # fmt: skip
    if n > 1:
        out.append(f"does {NUMBER_WORDS[n]} jumps|NOUN" + (" forward" if p["mode"] == "forward" else ""))
    return out


def _squat(p: dict) -> list[str]:
    n = p["reps"]
    depth = "deep " if p["depth"] > 0.35 else "shallow " if p["depth"] < 0.22 else ""
    times = "" if n == 1 else f" {_count(n)}"
    arms = " with {poss} arms stretched out in front" if p["arms"] == "forward" else ""
    out = [f"squats down{times}{arms}", f"crouches down{times}", f"squats{times}{arms}"]
    many = f"does {NUMBER_WORDS[n]} {depth}squats|NOUN{arms}" if n > 1 else ""
    out.append(many or f"does a {depth}squat{arms}")
    return out


_RAISE_WORDS = {
    "forward": ["in front", "forward", "to shoulder height"],
    "sideways": ["out to the side", "sideways", "to the side"],
    "up": ["above {poss} head", "straight up", "up over {poss} head"],
}


def _arm_phrase(side: str, plural_noun: str, singular_noun: str) -> list[str]:
    if side == "both":
        return [f"both {plural_noun}", "{poss} " + f"{plural_noun}"]
    return ["{poss} " + f"{side} {singular_noun}", f"the {side} {singular_noun}"]


def _raise_arm(p: dict) -> list[str]:
    times = "" if p["count"] == 1 else f" {_count(p['count'])}"
    out = []
    for arm in _arm_phrase(p["side"], "arms", "arm"):
        for where in _RAISE_WORDS[p["direction"]]:
            out += [f"raises {arm} {where}{times}", f"lifts {arm} {where}{times}"]
    return out


def _wave(p: dict) -> list[str]:
    hands = _arm_phrase(p["side"], "hands", "hand")
    out = [f"waves with {hands[0]}", f"waves {hands[1]}", f"waves {hands[0]} above {{poss}} head"]
    if p["lower"] == "walk":
        return [f"walks forward while waving {h}" for h in hands] + [f"walks and waves with {hands[0]}"]
    return out + [f"is waving {hands[1]}"]


def _kick(p: dict) -> list[str]:
    side, deg = p["side"], p["height_deg"]
    height = "high" if deg > 75 else "low" if deg < 55 else ""
    times = "" if p["count"] == 1 else f" {_count(p['count'])}"
    out = [f"kicks with {{poss}} {side} leg{times}", f"kicks {{poss}} {side} foot forward{times}"]
    if p["count"] > 1:
        out.append(f"kicks forward with the {side} leg{times}")
    else:
        out.append(f"does a {height} kick with the {side} leg")
    if height:
        out.append(f"kicks {height}|ADV with the {side} foot{times}")
    return [" ".join(s.split()) for s in out]


def _punch(p: dict) -> list[str]:
    n, side = p["count"], p["side"]
    times = "" if n == 1 else f" {_count(n)}"
    if side == "both":
        out = ["punches with both fists", "throws punches|NOUN with both hands"]
        out.append("punches forward with both arms")
        if n > 1:
            out.append(f"throws {NUMBER_WORDS[n]} punches|NOUN with alternating hands")
        return out
    out = [f"punches with {{poss}} {side} hand{times}", f"punches forward with the {side} fist{times}"]
    if n == 1:
        out.append(f"throws a punch|NOUN with {{poss}} {side} arm")
    else:
        out.append(f"throws {NUMBER_WORDS[n]} {side} punches|NOUN")
    return out


def _bow(p: dict) -> list[str]:
    deg = p["depth_deg"]
    how = "slightly" if deg < 35 else "deeply" if deg > 60 else ""
    times = "" if p["count"] == 1 else f" {_count(p['count'])}"
    out = [f"bows {how}{times}", f"bows down {how}{times}", f"bows forward{times}"]
    out.append(f"bends forward at the waist{times}" if deg > 45 else f"takes a small bow|NOUN{times}")
    return [" ".join(s.split()) for s in out]


def _turn(p: dict) -> list[str]:
    side, angle = p["side"], p["angle_deg"]
    spin = "counterclockwise" if side == "left" else "clockwise"
    if angle >= 150:
        out = ["turns around", "turns around in place", f"turns all the way around to the {side}|NOUN"]
    elif angle < 70:
        out = [
            f"turns slightly to the {side}|NOUN",
            f"turns a little to the {side}|NOUN",
            f"turns {side}|ADV a bit",
        ]
    else:
        out = [f"turns {side}|ADV", f"turns to the {side}|NOUN in place", f"turns {side}|ADV on the spot"]
        if angle <= 110:
            out.append(f"makes a quarter turn to the {side}|NOUN")
    return out + [f"turns {spin}", f"turns {spin} in place"]


def _spin(p: dict) -> list[str]:
    side, angle = p["side"], p["angle_deg"]
    spin = "counterclockwise" if side == "left" else "clockwise"
    out = [f"spins {spin}", f"spins around to the {side}|NOUN", "spins in place", f"turns around {spin}"]
    if 330 <= angle <= 400:
        out += ["spins around in a full circle", f"turns a full circle to the {side}|NOUN"]
    return out


def _idle(p: dict) -> list[str]:
    out = ["stands still", "stands in place", "is standing still", "stands idle|ADV"]
    if p["sway"] > 0.2:
        out += ["stands and shifts {poss} weight", "stands shifting {poss} weight from foot to foot"]
    if p["look"] == "around":
        out += ["stands and looks around", "stands still looking around"]
    return out


PHRASES = {
    "walk": _walk, "jog": _jog, "run": _run, "walk_backward": _walk_backward, "side_step": _side_step,
    "jump": _jump, "squat": _squat, "raise_arm": _raise_arm, "wave": _wave, "kick": _kick, "punch": _punch,
    "bow": _bow, "turn": _turn, "spin": _spin, "idle": _idle,
}  # fmt: skip


def describe(segments: list[tuple[str, dict]], rng: np.random.Generator, count: int = 3):
    """``count`` distinct captions and their tokens for a clip of ``segments`` ((family, params), ...)."""
    options = [PHRASES[family](params) for family, params in segments]
    captions: dict[str, list[str]] = {}
    for _ in range(20 * count):
        subject, poss = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
        phrases = [opts[int(rng.integers(len(opts)))] for opts in options]
        if len(phrases) > 1 and any(p.startswith("is ") for p in phrases):
            continue  # progressive phrases only for single-segment clips
        text = phrases[0]
        for phrase in phrases[1:]:
            text += CONNECTORS[int(rng.integers(len(CONNECTORS)))] + phrase
        if len(segments) > 1 and rng.random() < 0.2:
            text = "first " + text
        text = f"{subject} {text}".format(poss=poss) + ("." if rng.random() < 0.5 else "")
        caption, tokens = tokenize(text)
        captions.setdefault(caption, tokens)
        if len(captions) == count:
            break
    return list(captions), list(captions.values())
