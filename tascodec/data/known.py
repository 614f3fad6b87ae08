"""The public TAS benchmarks tascodec recognises, and the conventions that come with them.

A dataset folder is recognised as GTEA, 50Salads or Breakfast when its ``mapping.txt`` holds
that benchmark's classes and its ``groundTruth/`` names follow that benchmark's video naming.
:func:`dataset_defaults` then fills the options a user did not give (background classes,
activity pattern, sample rate) from the benchmark's conventions and says, in one line, what it
chose. This table is the only place that knows the benchmarks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["Known", "KNOWN", "Defaults", "recognise", "dataset_defaults"]

MATCH_SHARE = 0.9  # share of the benchmark's classes, and of the video names, that must match


@dataclass(frozen=True)
class Known:
    """One benchmark: how to recognise it and its conventional options."""

    name: str
    classes: frozenset[str]
    video_pattern: str  # every video name (groundTruth file stem) matches this
    background: tuple[str, ...]
    activity_pattern: str | None  # first group: a video's activity
    sample_rate: int  # the rate the benchmark's features are conventionally used at (MS-TCN)
    about: str  # where the conventions come from, for the note


KNOWN: tuple[Known, ...] = (
    Known("gtea",
          frozenset("take open pour close shake scoop stir put fold spread background".split()),
          r"^S\d+_[A-Za-z]+_C\d+$", ("background",), r"^S\d+_([A-Za-z]+)_C\d+$", 1,
          "10 verbs and background; S<subject>_<recipe>_C<camera>"),
    Known("50salads",
          frozenset("cut_tomato place_tomato_into_bowl cut_cheese place_cheese_into_bowl cut_lettuce "
                    "place_lettuce_into_bowl add_salt add_vinegar add_oil add_pepper mix_dressing peel_cucumber "
                    "cut_cucumber place_cucumber_into_bowl add_dressing mix_ingredients serve_salad_onto_plate "
                    "action_start action_end".split()),
          r"^rgb-\d+-\d+$", ("action_start", "action_end"), None, 2,
          "19 classes with action_start/action_end; rgb-<subject>-<take>; features used at rate 2"),
    Known("breakfast",
          frozenset("SIL pour_cereals pour_milk stir_cereals take_bowl pour_coffee take_cup spoon_sugar stir_coffee "
                    "pour_sugar pour_oil crack_egg add_saltnpepper fry_egg take_plate put_egg2plate take_eggs "
                    "butter_pan take_knife cut_orange squeeze_orange pour_juice take_glass take_squeezer "
                    "spoon_powder stir_milk spoon_flour stir_dough pour_dough2pan fry_pancake put_pancake2plate "
                    "pour_flour cut_fruit put_fruit2bowl peel_fruit stir_fruit cut_bun smear_butter take_topping "
                    "put_toppingOnTop put_bunTogether take_butter stir_egg pour_egg2pan stirfry_egg add_teabag "
                    "pour_water stir_tea".split()),
          r"^P\d+_[A-Za-z]+\d*_P\d+_[a-z]+$", ("SIL",), r"^P\d+_[A-Za-z]+\d*_P\d+_([a-z]+)$", 1,
          "48 classes with SIL; P<person>_<camera>_P<person>_<dish>"),
)


def _vocab(mapping: Path) -> list[str] | None:
    """The class names of a mapping.txt, or None when it cannot be read (read_dataset says why)."""
    try:
        lines = mapping.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return [line.split()[1] for line in lines if len(line.split()) == 2]


def recognise(data_dir, labels=None) -> Known | None:
    """The benchmark whose classes and video names the dataset at ``data_dir`` has, or None.

    ``labels``: the folder holding ``mapping.txt`` and ``groundTruth/`` when they live apart.
    """
    root = Path(labels if labels is not None else data_dir)
    vocab = _vocab(root / "mapping.txt")
    names = [p.stem for p in (root / "groundTruth").glob("*.txt")] if (root / "groundTruth").is_dir() else []
    if not vocab or not names:
        return None
    have = set(vocab)
    for k in KNOWN:
        if not set(k.background) <= have or len(have & k.classes) < MATCH_SHARE * len(k.classes):
            continue
        if len(have) > 1.5 * len(k.classes):
            continue
        named = sum(bool(re.match(k.video_pattern, n)) for n in names)
        if named >= MATCH_SHARE * len(names):
            return k
    return None


@dataclass(frozen=True)
class Defaults:
    """The options to read a dataset with, and the one-line note that says how they were chosen
    (empty when there is no readable mapping.txt: opening the dataset will say what is wrong)."""

    background: tuple[str, ...]
    activity_pattern: str | None
    sample_rate: int
    known: Known | None
    note: str


def dataset_defaults(data_dir, labels=None, *, background: Sequence[str] | None = None,
                     activity_pattern: str | None = None, sample_rate: int | None = None) -> Defaults:
    """Fill the options left as None from the recognised benchmark's conventions.

    ``background``: None chooses (the benchmark's, else ``background`` when mapping.txt has it);
    an empty sequence means no background class. A given name that mapping.txt lacks is warned
    about by :func:`tascodec.data.layout.read_dataset`. Unrecognised datasets get sample rate 1
    and no activity pattern.
    """
    known = recognise(data_dir, labels)
    readable = _vocab(Path(labels if labels is not None else data_dir) / "mapping.txt") is not None
    given = []
    if background is not None:
        bg = tuple(background)
        given.append("background")
    elif known is not None:
        bg = known.background
    else:
        vocab = _vocab(Path(labels if labels is not None else data_dir) / "mapping.txt") or []
        bg = ("background",) if "background" in vocab else ()
    if activity_pattern is not None:
        given.append("activity pattern")
        pattern = activity_pattern
    else:
        pattern = known.activity_pattern if known is not None else None
    if sample_rate is not None:
        given.append("sample rate")
        rate = int(sample_rate)
    else:
        rate = known.sample_rate if known is not None else 1

    parts = [f"background {', '.join(bg)}" if bg else "no background class",
             f"activity pattern '{pattern}'" if pattern else "no activity pattern",
             f"sample rate {rate}"]
    if known is not None:
        head = f"recognised {known.name} ({known.about}):"
    else:
        head = "dataset not recognised as GTEA, 50Salads or Breakfast:"
        if background is None and not bg:
            parts[0] = "no background class (mapping.txt has no 'background'; give --background NAME)"
    tail = f" ({', '.join(given)} as given)" if given else ""
    note = f"{head} {'; '.join(parts)}{tail}" if readable else ""  # no dataset: read_dataset says so
    return Defaults(bg, pattern, rate, known, note)


def background_choice(names: Sequence[str]) -> tuple[str, ...] | None:
    """The ``--background`` values as :func:`dataset_defaults` takes them: ``auto`` (or nothing)
    is None (choose), ``none`` is no background class, anything else the names given."""
    names = tuple(names)
    if not names or names == ("auto",):
        return None
    if names == ("none",):
        return ()
    return names
