"""Name handling: KMU-2010 transliteration and the normalised keys names are looked up by.

People write the same place many ways ("Харківська область", "Kharkivska oblast",
"м. Харків та Харківська територіальна громада", "Кам’янець" vs "Кам'янець"). Lookups compare
normalised keys, so apostrophe style, case, punctuation and the level words do not matter, while
words that tell two real units apart (сільська / селищна / міська) are kept.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from tryvoha.regions.model import Level

# Cabinet of Ministers of Ukraine resolution No. 55 of 2010-01-27 (the national standard, used by
# the official alert record and by COD-AB). Letters with a second form use it at a word start.
_KMU: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
    "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu",
    "я": "ia",
}  # fmt: skip
_KMU_INITIAL: dict[str, str] = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}
APOSTROPHES = "'’ʼ`‘′ʹ"
_CYRILLIC = re.compile(r"[а-яіїєґё]", re.IGNORECASE)


def has_cyrillic(text: str) -> bool:
    """Whether the text is (at least partly) written in Cyrillic."""
    return bool(_CYRILLIC.search(text))


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(a): None for a in APOSTROPHES}
    for cyr, lat in _KMU.items():
        table[ord(cyr)] = lat
        table[ord(cyr.upper())] = lat[:1].upper() + lat[1:]
    return table


_TABLE = _build_table()
_INITIAL = re.compile(r"(?:^|(?<=[^\w" + APOSTROPHES + r"]))([єїйюяЄЇЙЮЯ])")
_ZGH = re.compile(r"(?<=[зЗ])([гГ])")


def _initial(match: re.Match[str]) -> str:
    ch = match.group(1)
    latin = _KMU_INITIAL[ch.lower()]
    return latin.capitalize() if ch.isupper() else latin


@lru_cache(maxsize=65536)
def transliterate(text: str) -> str:
    """Ukrainian → Latin by the KMU-2010 rules: "Знам'янка" → "Znamianka", "Згурівка" →
    "Zghurivka", "Яготин" → "Yahotyn" but "Ізмаїл" → "Izmail"."""
    text = _INITIAL.sub(_initial, text)
    text = _ZGH.sub(lambda m: "gh" if m.group(1) == "г" else "Gh", text)
    return text.translate(_TABLE)


# Words naming a level; dropped from keys, but a query that carries one is read as a level hint.
_LEVEL_WORDS: dict[str, Level] = {
    "область": Level.OBLAST, "обл": Level.OBLAST, "oblast": Level.OBLAST, "oblasti": Level.OBLAST,
    "район": Level.RAION, "raion": Level.RAION, "rayon": Level.RAION,
    "district": Level.RAION,
    "громада": Level.HROMADA, "тг": Level.HROMADA, "hromada": Level.HROMADA,
    "otg": Level.HROMADA, "отг": Level.HROMADA, "community": Level.HROMADA,
}  # fmt: skip
# Words that carry no identity: dropped from keys without a hint.
_NOISE_WORDS = frozenset(
    {"територіальна", "територіальні", "terytorialna", "territorial", "м", "m", "місто", "city"}
)
_SPLIT = re.compile(r"[\s\-–—.,;:/()«»\"]+")


_WORDS = re.compile(r"[^\s\-–—.,;:/()«»\"]+")
_RN = re.compile(r"(?<!\w)р-н(?!\w)")


@lru_cache(maxsize=65536)
def _tokens(name: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFC", name).lower().replace("ё", "е")
    for ch in APOSTROPHES:
        text = text.replace(ch, "")
    return tuple(_WORDS.findall(_RN.sub(" район ", text)))


def level_hint(name: str) -> Level | None:
    """The level a name states with a word like "область" / "raion" / "громада", if exactly one."""
    levels = {_LEVEL_WORDS[w] for w in _tokens(name) if w in _LEVEL_WORDS}
    return levels.pop() if len(levels) == 1 else None


def name_key(name: str, keep_level: bool = False) -> str:
    """The lookup key: lower case, no apostrophes or punctuation, no filler words, and no level
    words (or, with `keep_level`, level words reduced to one spelling per level)."""
    words = []
    for w in _tokens(name):
        if w in _NOISE_WORDS:
            continue
        if w in _LEVEL_WORDS:
            if keep_level:
                words.append(str(_LEVEL_WORDS[w]))
            continue
        words.append(w)
    return " ".join(words)


def latin_key(name: str, keep_level: bool = False) -> str:
    """The key of the name's Latin form, so Cyrillic and transliterated spellings meet."""
    return name_key(transliterate(name) if has_cyrillic(name) else name, keep_level)


_CITY_AND = re.compile(
    r"^\s*(?:м\.|m\.)\s*(?P<city>.+?)\s+(?:та|ta)\s+(?P<rest>.+)$", re.IGNORECASE
)


def city_of(name: str) -> str | None:
    """The city in the record's "м. X та Y територіальна громада" form, else None."""
    match = _CITY_AND.match(name)
    return match.group("city").strip() if match else None


_LEVEL_SUFFIX = re.compile(
    r"\s+(?:(?:міська|сільська|селищна|miska|silska|selyshchna)\s+)?"
    r"(?:територіальна громада|terytorialna hromada|громада|hromada|область|oblast|район|raion)$",
    re.IGNORECASE,
)


_CITY_WORD = re.compile(r"^(?:м\.|m\.)\s*|\s+(?:city|місто)$", re.IGNORECASE)


def bare_name(name: str) -> str:
    """A unit's own name from a full one: "m. Sumy ta Sumska terytorialna hromada" → "Sumska"."""
    match = _CITY_AND.match(name)
    if match:
        name = match.group("rest")
    name = _LEVEL_SUFFIX.sub("", name.strip()).strip()
    return _CITY_WORD.sub("", name).strip()
