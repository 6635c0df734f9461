"""Weapon classes: what each model string of the attacks data set is, from its reference table.

The reference (`missiles_and_uavs.csv`) gives a `category` (UAV, cruise missile, ballistic
missile, surface-to-air missile, guided bomb) and a `type`; the classes below refine it the way
the Air Force reports count weapons apart (Shahed-type drones apart from reconnaissance drones,
Kinzhal apart from Iskander-M, S-300/S-400 used against ground targets apart from both).
A combined model ("X-101/X-555 and Kalibr") is classified by its parts: one class when they
share it, `mixed` otherwise; the reference's own category for combined strings is not used
(it names one category for parts of different kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class WeaponClass(StrEnum):
    ATTACK_DRONE = "attack_drone"
    STRIKE_DRONE = "strike_drone"
    RECON_DRONE = "recon_drone"
    UNKNOWN_DRONE = "unknown_drone"
    CRUISE = "cruise"
    ANTI_SHIP = "anti_ship"
    BALLISTIC = "ballistic"
    AEROBALLISTIC = "aeroballistic"
    SAM_GROUND_ATTACK = "sam_ground_attack"
    UNKNOWN_MISSILE = "unknown_missile"
    GUIDED_BOMB = "guided_bomb"
    MIXED = "mixed"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    DRONE = "drone"
    MISSILE = "missile"
    BOMB = "bomb"
    MIXED = "mixed"
    UNKNOWN = "unknown"


LABELS: dict[WeaponClass, str] = {
    WeaponClass.ATTACK_DRONE: "Shahed-type attack drones and decoys",
    WeaponClass.STRIKE_DRONE: "tactical strike drones (Lancet, Kub, Molniya…)",
    WeaponClass.RECON_DRONE: "reconnaissance drones",
    WeaponClass.UNKNOWN_DRONE: "drones of unknown type",
    WeaponClass.CRUISE: "cruise and guided air-launched missiles",
    WeaponClass.ANTI_SHIP: "anti-ship missiles",
    WeaponClass.BALLISTIC: "ballistic missiles",
    WeaponClass.AEROBALLISTIC: "aeroballistic missiles (Kinzhal)",
    WeaponClass.SAM_GROUND_ATTACK: "S-300/S-400 missiles used against ground targets",
    WeaponClass.UNKNOWN_MISSILE: "missiles of unknown type",
    WeaponClass.GUIDED_BOMB: "guided and aerial bombs",
    WeaponClass.MIXED: "combined rows of several classes",
    WeaponClass.UNKNOWN: "unclassified",
}

KIND_OF: dict[WeaponClass, Kind] = {
    WeaponClass.ATTACK_DRONE: Kind.DRONE,
    WeaponClass.STRIKE_DRONE: Kind.DRONE,
    WeaponClass.RECON_DRONE: Kind.DRONE,
    WeaponClass.UNKNOWN_DRONE: Kind.DRONE,
    WeaponClass.CRUISE: Kind.MISSILE,
    WeaponClass.ANTI_SHIP: Kind.MISSILE,
    WeaponClass.BALLISTIC: Kind.MISSILE,
    WeaponClass.AEROBALLISTIC: Kind.MISSILE,
    WeaponClass.SAM_GROUND_ATTACK: Kind.MISSILE,
    WeaponClass.UNKNOWN_MISSILE: Kind.MISSILE,
    WeaponClass.GUIDED_BOMB: Kind.BOMB,
    WeaponClass.MIXED: Kind.MIXED,
    WeaponClass.UNKNOWN: Kind.UNKNOWN,
}

GROUPS: dict[str, str] = {
    "drones": "every drone class (attack, strike, reconnaissance, unknown)",
    "missiles": "every missile class (cruise, anti-ship, ballistic, aeroballistic, S-300/S-400, "
    "unknown)",
    "bombs": "guided and aerial bombs",
}
"""Names that select a whole kind; a combined row counts in a kind when all its parts do."""

# Models the reference classifies too coarsely for the reports' own distinctions.
_BY_MODEL: dict[str, WeaponClass] = {
    "shahed-136/131": WeaponClass.ATTACK_DRONE,
    "молнія": WeaponClass.STRIKE_DRONE,
    "x-47 kinzhal": WeaponClass.AEROBALLISTIC,
    "x-22": WeaponClass.ANTI_SHIP,
    "x-32": WeaponClass.ANTI_SHIP,
    "x-35": WeaponClass.ANTI_SHIP,
    "p-800 oniks": WeaponClass.ANTI_SHIP,
    "unknown uav": WeaponClass.UNKNOWN_DRONE,
    "unknown missile": WeaponClass.UNKNOWN_MISSILE,
}

EXTRA_MODELS: dict[str, WeaponClass] = {
    "фенікс": WeaponClass.RECON_DRONE,
    "картограф": WeaponClass.RECON_DRONE,
    "привет-82": WeaponClass.STRIKE_DRONE,
    "aerial bomb": WeaponClass.GUIDED_BOMB,
}
"""Models the reference table lacks, classified here (docs/attacks.md lists them)."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One row of the weapon reference: the model, its category and type, and the rest as is."""

    model: str
    category: str
    type: str
    details: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Classified:
    weapon_class: WeaponClass
    kind: Kind
    parts: tuple[str, ...]
    part_classes: tuple[WeaponClass, ...]
    in_reference: bool
    """False when the model (or one of its parts) is not in the reference table."""
    classes: tuple[WeaponClass, ...]
    """The distinct classes of its parts, sorted."""


def split_model(model: str) -> tuple[str, ...]:
    """ "A and B" → ("A", "B"); a model name with a slash ("X-101/X-555") is one model."""
    return tuple(p.strip() for p in model.split(" and ") if p.strip())


def class_of_single(model: str, reference: Mapping[str, Reference]) -> tuple[WeaponClass, bool]:
    """The class of one model (not combined), and whether the reference knows it."""
    key = model.strip().lower()
    ref = reference.get(key)
    if key in _BY_MODEL:
        return _BY_MODEL[key], ref is not None
    if ref is None:
        return EXTRA_MODELS.get(key, WeaponClass.UNKNOWN), False
    category, kind = ref.category.strip().lower(), ref.type.strip().lower()
    if category == "uav":
        if "loitering" in kind:
            return WeaponClass.STRIKE_DRONE, True
        if "reconnaissance" in kind or "istar" in kind:
            return WeaponClass.RECON_DRONE, True
        return WeaponClass.UNKNOWN_DRONE, True
    if category == "ballistic missile":
        return WeaponClass.BALLISTIC, True
    if category == "cruise missile":
        if "anti-ship" in kind and "land-attack" not in kind:
            return WeaponClass.ANTI_SHIP, True
        return WeaponClass.CRUISE, True
    if category == "surface-to-air missile":
        return WeaponClass.SAM_GROUND_ATTACK, True
    if category == "guided bomb":
        return WeaponClass.GUIDED_BOMB, True
    return WeaponClass.UNKNOWN, True


def classify(model: str, reference: Mapping[str, Reference]) -> Classified:
    parts = split_model(model) or (model.strip(),)
    found = [class_of_single(p, reference) for p in parts]
    classes = tuple(c for c, _ in found)
    distinct = set(classes)
    weapon_class = classes[0] if len(distinct) == 1 else WeaponClass.MIXED
    kinds = {KIND_OF[c] for c in distinct}
    kind = kinds.pop() if len(kinds) == 1 else Kind.MIXED
    known = all(k for _, k in found)
    return Classified(weapon_class, kind, parts, classes, known, tuple(sorted(distinct)))


def selection(name: str) -> tuple[str, str]:
    """A class or group name → ("class" | "kind", value); ValueError names the choices."""
    value = name.strip().lower()
    if value in GROUPS:
        return "kind", value[:-1]
    if value == "shahed":
        return "class", WeaponClass.ATTACK_DRONE.value
    try:
        return "class", WeaponClass(value).value
    except ValueError:
        choices = ", ".join([*GROUPS, "shahed", *(c.value for c in WeaponClass)])
        raise ValueError(f"unknown weapon class {name!r}; choose one of: {choices}") from None
