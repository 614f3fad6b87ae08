"""The measured tables the synthetic datasets imitate: GTEA, 50Salads and Breakfast.

Per benchmark: its class list (mapping order), video names, cameras and split folds, one action
grammar per activity (ordered, optional, swappable, repeated and alternative steps, with their
probabilities) and log-normal segment-length laws per class (log-mean, log-sd), all measured once
on the real benchmarks' label files. Background-like classes (``background``, ``SIL``) get separate
start/middle/end length laws. Only data and the grammar notation live here; ``synthetic.py``
samples labels and features from them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["BENCHMARKS", "Benchmark", "VideoSpec", "MAX_REP", "grammar_actions"]

MAX_REP = 4  # a "rep" node repeats its child at most this many times

# --------------------------------------------------------------------------------------------
# Grammar nodes: a str is an action; tuples are ("seq", *children), ("opt", p, child),
# ("swap", p, a, b) (a then b, reversed with probability p), ("perm", *children) (any order),
# ("rep", p, child) (once, then again with probability p each time, at most MAX_REP times),
# ("alt", (w, child), ...) (one child, chosen with weights w).
# --------------------------------------------------------------------------------------------
def S(*c):  # noqa: N802 - grammar constructors read like a notation
    return ("seq", *c)


def O(p, c):  # noqa: N802, E743
    return ("opt", p, c)


def W(p, a, b):  # noqa: N802
    return ("swap", p, a, b)


def P(*c):  # noqa: N802
    return ("perm", *c)


def R(p, c):  # noqa: N802
    return ("rep", p, c)


def A(*pairs):  # noqa: N802
    return ("alt", *pairs)


def grammar_actions(node) -> set[str]:
    """All action names a grammar can produce."""
    if isinstance(node, str):
        return {node}
    op = node[0]
    kids = [c for _, c in node[1:]] if op == "alt" else node[2:] if op in ("opt", "rep", "swap") else node[1:]
    return set().union(*map(grammar_actions, kids))


# --- GTEA: 7 recipes by 4 subjects, verbs only; short segments with background in between.
_POUR_JAR = S("take", "open", "pour", W(0.15, "close", "put"))
_SCOOPS = S("scoop", "pour", O(0.7, S("scoop", "pour")))
_SPREADS = S("scoop", "spread", O(0.3, S("scoop", "spread")))
_GTEA_GRAMMARS = {
    "Cheese": S("take", "take", "open", "put", _POUR_JAR, _POUR_JAR, "take", "put"),
    "CofHoney": S("take", "take", W(0.75, "open", "take"), _SCOOPS, "close", "put",
                  _POUR_JAR, _POUR_JAR, "stir"),
    "Coffee": S("take", "take", W(0.5, "open", "take"), _SCOOPS, "close", "put",
                "take", "open", A((0.75, _SCOOPS), (0.25, "pour")), "close", "put",
                "take", "open", A((0.75, "pour"), (0.25, _SCOOPS)), O(0.25, "stir"),
                W(0.25, "close", "put"), "stir"),
    "Hotdog": S("take", "take", "put", _POUR_JAR, _POUR_JAR, "fold"),
    "Pealate": S("take", "take", W(0.25, "open", "take"), _SPREADS, "close", "put",
                 "take", "open", _SPREADS, "close", "put", _POUR_JAR, "take", "put"),
    "Peanut": S("take", "take", W(0.25, "open", "take"), _SPREADS, O(0.25, "take"), "close", "put",
                _POUR_JAR, "take", "put"),
    "Tea": S("take", "take", "open", "pour", "close", "put", "take", O(0.5, "put"), "open", "shake",
             "take", W(0.25, "open", "take"), _SCOOPS, O(0.25, "stir"), "close", "put", "stir"),
}

# --- 50Salads: one recipe; the salad and the dressing are made in either order.
_CUCUMBER = S(O(0.96, "peel_cucumber"), R(0.2, S("cut_cucumber", O(0.9, "place_cucumber_into_bowl"))))
_TOMATO = R(0.2, S("cut_tomato", O(0.95, "place_tomato_into_bowl")))
_CHEESE = S("cut_cheese", O(0.9, "place_cheese_into_bowl"))
_LETTUCE = R(0.15, S("cut_lettuce", O(0.94, "place_lettuce_into_bowl")))
_CHOP = S(P(_CUCUMBER, _TOMATO, _CHEESE, _LETTUCE), O(0.98, "mix_ingredients"))
_DRESSING = S(P("add_salt", "add_pepper", "add_vinegar", "add_oil"), O(0.9, "mix_dressing"))
_SALADS_GRAMMARS = {
    "salad": S("action_start",
               A((0.55, S(_DRESSING, _CHOP, O(0.8, "add_dressing"), O(0.25, "mix_ingredients"),
                          "serve_salad_onto_plate")),
                 (0.45, S(_CHOP, _DRESSING, "serve_salad_onto_plate", O(0.75, "add_dressing")))),
               "action_end"),
}

# --- Breakfast: 10 dishes; SIL opens every video and closes most.
_BREAKFAST_GRAMMARS = {
    "cereals": S(O(0.52, "take_bowl"), "pour_cereals", "pour_milk", O(0.39, "stir_cereals")),
    "coffee": S(O(0.39, "take_cup"), "pour_coffee",
                A((0.72, O(0.62, "pour_milk")),
                  (0.28, S(W(0.35, O(0.9, "pour_milk"), A((0.5, "spoon_sugar"), (0.5, "pour_sugar"))),
                           O(0.85, "stir_coffee"))))),
    "friedegg": S(O(0.05, "take_eggs"), A((0.39, "butter_pan"), (0.32, "pour_oil"), (0.29, S())),
                  "crack_egg", W(0.35, O(0.6, "add_saltnpepper"), "fry_egg"), O(0.53, "take_plate"),
                  O(0.97, "put_egg2plate")),
    "juice": S(O(0.2, "take_plate"), O(0.12, "take_knife"), O(0.95, "cut_orange"),
               O(0.2, "take_squeezer"), "squeeze_orange", O(0.79, "take_glass"), O(0.97, "pour_juice"),
               O(0.08, S("squeeze_orange", "pour_juice"))),
    "milk": S(O(0.33, "take_cup"), W(0.35, "spoon_powder", "pour_milk"), O(0.9, "stir_milk"),
              O(0.12, S(A((0.5, "pour_milk"), (0.5, "spoon_powder")), O(0.7, "stir_milk")))),
    "pancake": S(O(0.11, "take_bowl"), O(0.02, "take_eggs"),
                 W(0.15, "crack_egg", A((0.92, "spoon_flour"), (0.08, "pour_flour"))),
                 O(0.3, "stir_dough"), "pour_milk", "stir_dough",
                 O(0.25, S(A((0.5, "spoon_flour"), (0.5, "pour_milk")), "stir_dough")),
                 A((0.45, "butter_pan"), (0.26, "pour_oil"), (0.29, S())), "pour_dough2pan",
                 O(0.97, "fry_pancake"), O(0.73, "take_plate"), O(0.79, "put_pancake2plate")),
    "salat": S(O(0.13, "take_knife"), O(0.6, A((0.62, "take_bowl"), (0.38, "take_plate"))),
               R(0.6, S(O(0.45, "peel_fruit"), "cut_fruit", O(0.8, "put_fruit2bowl"))),
               O(0.2, "stir_fruit")),
    "sandwich": S(W(0.4, O(0.23, "take_knife"), O(0.98, "cut_bun")), O(0.13, "take_plate"),
                  O(0.08, "take_butter"), O(0.93, "smear_butter"),
                  R(0.12, S(O(0.19, "take_topping"), "put_toppingOnTop")), O(0.49, "put_bunTogether")),
    "scrambledegg": S(O(0.06, "take_bowl"), O(0.03, "take_eggs"),
                      A((0.48, "butter_pan"), (0.34, "pour_oil"), (0.18, S())), "crack_egg",
                      O(0.45, S(O(0.6, "add_saltnpepper"), "stir_egg", "pour_egg2pan")), "stirfry_egg",
                      O(0.7, S("add_saltnpepper", "stirfry_egg")), O(0.75, "take_plate"),
                      O(0.93, "put_egg2plate")),
    "tea": S(O(0.46, "take_cup"), W(0.19, "add_teabag", "pour_water"),
             O(0.1, S(A((0.8, "spoon_sugar"), (0.2, "pour_sugar")), O(0.5, "stir_tea")))),
}
# P(video ends with SIL) per dish, measured.
_BREAKFAST_END_SIL = {"cereals": 0.93, "coffee": 0.68, "friedegg": 0.85, "juice": 0.98, "milk": 0.96,
                      "pancake": 0.97, "salat": 0.98, "sandwich": 0.99, "scrambledegg": 0.93, "tea": 0.98}

# Segment lengths: "class log_mean log_sd" measured on the real label files (frames at the
# benchmark's feature rate). "name@start/@mid/@end" is a background-like class at that position.
_GTEA_LENGTHS = """
take 3.42 0.51|open 3.58 0.54|pour 3.64 1.17|close 3.18 0.62|shake 5.59 0.52|scoop 3.48 0.40
stir 4.31 0.82|put 3.12 0.52|fold 4.16 0.18|spread 4.72 0.63|background@start 2.80 0.28
background@mid 1.70 1.32|background@end 3.30 1.44
"""
_SALADS_LENGTHS = """
cut_tomato 6.76 0.75|place_tomato_into_bowl 5.23 0.64|cut_cheese 6.75 0.44
place_cheese_into_bowl 5.31 0.56|cut_lettuce 6.51 0.75|place_lettuce_into_bowl 5.40 0.52
add_salt 5.39 0.31|add_vinegar 6.08 0.32|add_oil 6.21 0.39|add_pepper 5.46 0.47|mix_dressing 5.73 0.66
peel_cucumber 7.02 0.44|cut_cucumber 6.53 0.73|place_cucumber_into_bowl 5.42 0.80
add_dressing 6.14 0.51|mix_ingredients 5.81 0.82|serve_salad_onto_plate 6.47 0.40
action_start 6.31 0.40|action_end 6.71 0.65
"""
_BREAKFAST_LENGTHS = """
pour_cereals 5.58 0.34|pour_milk 5.26 0.38|stir_cereals 4.54 0.67|take_bowl 4.47 0.62
pour_coffee 5.42 0.39|take_cup 4.48 0.49|spoon_sugar 5.29 0.82|stir_coffee 4.97 0.38
pour_sugar 5.03 0.24|pour_oil 5.25 0.44|crack_egg 5.68 0.53|add_saltnpepper 5.38 0.66
fry_egg 7.11 0.74|take_plate 4.85 0.66|put_egg2plate 5.27 0.61|take_eggs 5.17 0.53
butter_pan 6.13 0.52|take_knife 4.42 0.63|cut_orange 4.93 0.37|squeeze_orange 6.38 0.59
pour_juice 5.13 0.53|take_glass 4.65 0.47|take_squeezer 4.22 0.69|spoon_powder 5.64 0.35
stir_milk 5.21 0.63|spoon_flour 5.71 0.58|stir_dough 6.30 0.71|pour_dough2pan 5.75 0.65
fry_pancake 7.67 0.60|put_pancake2plate 5.20 0.66|pour_flour 5.46 0.68|cut_fruit 5.98 0.93
put_fruit2bowl 4.40 0.69|peel_fruit 6.33 0.80|stir_fruit 5.05 0.58|cut_bun 5.55 0.38
smear_butter 6.32 0.46|take_topping 5.06 0.68|put_toppingOnTop 5.73 0.62|put_bunTogether 4.05 0.47
take_butter 4.21 0.49|stir_egg 5.68 0.55|pour_egg2pan 5.57 0.60|stirfry_egg 6.53 0.75
add_teabag 5.04 0.74|pour_water 5.36 0.35|stir_tea 4.65 0.05|SIL@start 3.43 1.37|SIL@end 4.07 0.86
"""

# Breakfast recordings: subject number -> cameras and how many dishes each filmed
# (c cam01, C cam02, s stereo01, w webcam01, W webcam02); 1,712 videos in all.
_BREAKFAST_CAMS = (
    "3:c7s5w7W7 4:c7s7w8W8 5:c9s2 6:c10s1 7:c3s6w9 8:c2w10 9:c6w9 10:c1w8 11:c9s1w9 12:c9s2w9 "
    "13:c9s5w9 14:c10s9w10 15:c10s10w9 16:c8s10w9W10 17:c9s8w8W9 18:c9s4w10W10 19:c9s4w10W9 "
    "20:c9C4s7w10W9 21:c10C5s5w10W10 22:c10C7s5w9W10 23:c8C9s7w10W10 24:c10C8s4w10W10 "
    "25:c9C10s4W10 26:c8C9s4W10 27:c10C10s5W10 28:c4C4s2 29:c10C10s5 30:c7C10s6 31:c10C10s3 "
    "32:c10C10s5 33:c10C10s4 34:c8C1s8W8 35:c10C3s9W10 36:c9s10w9W9 37:c10s10w10W10 "
    "38:c10s10w10W10 39:c8C9s10w6W10 40:c8C10s8w10W10 41:c10C10s10w10W10 42:c10C9s9w10W10 "
    "43:c3C9s8w10W10 44:c9C10s6w10W10 45:c10C8s6w10W10 46:c10C10s4w10W10 47:c10C10s2w9W10 "
    "48:c9C10s3w10W10 49:c10C9s8w10W9 50:c10C10s8w10W10 51:c9C10s7w10W10 52:c7C9s9w10W10 "
    "53:c4C10s9w10W10 54:c7C9s10w8W10"
)
_CAM_NAMES = {"c": "cam01", "C": "cam02", "s": "stereo01", "w": "webcam01", "W": "webcam02"}
_SALADS_SUBJECTS = [s for s in range(1, 28) if s not in (8, 12)]  # 25 people, 2 videos each


@dataclass(frozen=True)
class VideoSpec:
    """One video to synthesize: its name, recording subject, camera, activity and test fold (0-based)."""

    name: str
    subject: str
    camera: str
    activity: str
    fold: int


@dataclass(frozen=True)
class Benchmark:
    """What a synthetic dataset imitates: classes (mapping order), grammars, lengths, splits."""

    name: str
    classes: tuple[str, ...]
    background: tuple[str, ...]
    grammars: dict
    lengths: dict  # "class" or "bg@position" -> (log_mean, log_sd)
    n_splits: int
    bg_mid_prob: float  # chance of a background segment between two actions
    bg_end_prob: dict  # activity -> chance that the video ends with background
    video_list: Callable[[int], list[VideoSpec]]  # extra subjects -> the full list, then theirs

    def videos(self, extra: int = 0) -> list[VideoSpec]:
        """The benchmark's full video list, then ``extra``-many more subjects' worth beyond it."""
        return self.video_list(extra)


def _lengths(text: str) -> dict:
    out = {}
    for item in text.replace("\n", "|").split("|"):
        if item.strip():
            name, mu, sd = item.split()
            out[name] = (float(mu), float(sd))
    return out


def _gtea_videos(extra: int) -> list[VideoSpec]:
    acts = list(_GTEA_GRAMMARS)
    return [VideoSpec(f"S{s}_{a}_C1", f"S{s}", "C1", a, (s - 1) % 4)
            for s in range(1, 5 + extra) for a in acts]


def _salads_videos(extra: int) -> list[VideoSpec]:
    subjects = _SALADS_SUBJECTS + list(range(28, 28 + extra))
    return [VideoSpec(f"rgb-{s:02d}-{k}", f"{s:02d}", "rgb", "salad", i // 5 if i < 25 else i % 5)
            for i, s in enumerate(subjects) for k in (1, 2)]


def _breakfast_videos(extra: int) -> list[VideoSpec]:
    acts = sorted(_BREAKFAST_GRAMMARS)
    out = []
    table = [(int(s), c) for s, c in (item.split(":") for item in _BREAKFAST_CAMS.split())]
    table += [(55 + i, "c10s10w10") for i in range(extra)]
    for i, (subj, cams) in enumerate(table):
        fold = (subj - 3) // 13 if subj <= 54 else i % 4
        for code, count in re.findall(r"([a-zA-Z])(\d+)", cams):
            cam = _CAM_NAMES[code]
            # which dishes this camera filmed: a fixed pick (independent of the user's seed)
            pick = np.random.default_rng([0xB4EA, subj, ord(code)]).permutation(len(acts))[: int(count)]
            for a in sorted(acts[j] for j in pick):
                out.append(VideoSpec(f"P{subj:02d}_{cam}_P{subj:02d}_{a}", f"P{subj:02d}", cam, a, fold))
    return out


BENCHMARKS: dict[str, Benchmark] = {
    "gtea": Benchmark(
        "gtea", ("take", "open", "pour", "close", "shake", "scoop", "stir", "put", "fold", "spread",
                 "background"),
        ("background",), _GTEA_GRAMMARS, _lengths(_GTEA_LENGTHS), 4, 0.95,
        {a: 1.0 for a in _GTEA_GRAMMARS}, _gtea_videos),
    "50salads": Benchmark(
        "50salads", ("cut_tomato", "place_tomato_into_bowl", "cut_cheese", "place_cheese_into_bowl",
                     "cut_lettuce", "place_lettuce_into_bowl", "add_salt", "add_vinegar", "add_oil",
                     "add_pepper", "mix_dressing", "peel_cucumber", "cut_cucumber",
                     "place_cucumber_into_bowl", "add_dressing", "mix_ingredients",
                     "serve_salad_onto_plate", "action_start", "action_end"),
        (), _SALADS_GRAMMARS, _lengths(_SALADS_LENGTHS), 5, 0.0, {"salad": 0.0}, _salads_videos),
    "breakfast": Benchmark(
        "breakfast", ("SIL", "pour_cereals", "pour_milk", "stir_cereals", "take_bowl", "pour_coffee",
                      "take_cup", "spoon_sugar", "stir_coffee", "pour_sugar", "pour_oil", "crack_egg",
                      "add_saltnpepper", "fry_egg", "take_plate", "put_egg2plate", "take_eggs",
                      "butter_pan", "take_knife", "cut_orange", "squeeze_orange", "pour_juice",
                      "take_glass", "take_squeezer", "spoon_powder", "stir_milk", "spoon_flour",
                      "stir_dough", "pour_dough2pan", "fry_pancake", "put_pancake2plate", "pour_flour",
                      "cut_fruit", "put_fruit2bowl", "peel_fruit", "stir_fruit", "cut_bun",
                      "smear_butter", "take_topping", "put_toppingOnTop", "put_bunTogether",
                      "take_butter", "stir_egg", "pour_egg2pan", "stirfry_egg", "add_teabag",
                      "pour_water", "stir_tea"),
        ("SIL",), _BREAKFAST_GRAMMARS, _lengths(_BREAKFAST_LENGTHS), 4, 0.0, _BREAKFAST_END_SIL,
        _breakfast_videos),
}
