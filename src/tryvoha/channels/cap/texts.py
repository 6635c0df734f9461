"""What a CAP message says, in Ukrainian and English: the event names, how grave each threat is,
and what to do (from the State Emergency Service's public guidance for each kind of threat).

`CAP_LANGUAGES` orders the `<info>` blocks: Ukrainian first, as residents read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tryvoha.alerts.model import Detail, Threat

CAP_LANGUAGES = ("uk-UA", "en-US")
LANG_KEYS = {"uk-UA": "uk", "en-US": "en"}


@dataclass(frozen=True, slots=True)
class ThreatText:
    categories: tuple[str, ...]
    severity: str
    response: str
    event: dict[str, str]
    instruction: dict[str, str]


THREATS: dict[Threat, ThreatText] = {
    Threat.AIR_RAID: ThreatText(
        categories=("Security",),
        severity="Severe",
        response="Shelter",
        event={"uk": "Повітряна тривога", "en": "Air raid alert"},
        instruction={
            "uk": "Негайно пройдіть до найближчого укриття. Якщо укриття немає, дотримуйтеся "
            "правила двох стін: залишайтеся в приміщенні без вікон, відділеному від вулиці "
            "щонайменше двома стінами. Не знімайте й не публікуйте роботу ППО та місця влучань. "
            "Залишайтеся в укритті до відбою тривоги.",
            "en": "Go to the nearest shelter now. If there is none, follow the two-wall rule: "
            "stay in a windowless room with at least two walls between you and the street. Do "
            "not film or post air defence at work or impact sites. Stay in the shelter until the "
            "all clear.",
        },
    ),
    Threat.ARTILLERY_SHELLING: ThreatText(
        categories=("Security",),
        severity="Extreme",
        response="Shelter",
        event={"uk": "Загроза артобстрілу", "en": "Artillery shelling threat"},
        instruction={
            "uk": "Негайно сховайтеся в укритті, підвалі або в приміщенні без вікон. Якщо "
            "обстріл застав вас на вулиці, ляжте на землю в найближчому заглибленні й прикрийте "
            "голову руками. Тримайтеся подалі від вікон. Не виходьте до відбою: обстріли часто "
            "повторюються.",
            "en": "Take cover now in a shelter, a basement or a windowless room. If caught "
            "outside, lie flat in the nearest ditch or hollow and cover your head with your "
            "hands. Keep away from windows. Stay under cover until the all clear: shelling often "
            "resumes.",
        },
    ),
    Threat.URBAN_FIGHTS: ThreatText(
        categories=("Security",),
        severity="Extreme",
        response="Shelter",
        event={"uk": "Загроза вуличних боїв", "en": "Urban fighting threat"},
        instruction={
            "uk": "Залишайтеся вдома або в укритті, подалі від вікон. Не виходьте на вулицю, не "
            "наближайтеся до військових і техніки, нічого не знімайте. Тримайте напоготові "
            "документи, воду, ліки й заряджений телефон. Стежте за повідомленнями влади.",
            "en": "Stay at home or in a shelter, away from windows. Do not go outside, do not "
            "approach soldiers or military vehicles, do not film anything. Keep documents, "
            "water, medicine and a charged phone at hand. Follow official announcements.",
        },
    ),
    Threat.CHEMICAL: ThreatText(
        categories=("CBRNE", "Security"),
        severity="Extreme",
        response="Shelter",
        event={"uk": "Хімічна загроза", "en": "Chemical threat"},
        instruction={
            "uk": "Зайдіть у приміщення, зачиніть вікна й двері, вимкніть вентиляцію та "
            "кондиціонери, закрийте щілини вологою тканиною. Захистіть органи дихання "
            "респіратором або вологою пов'язкою. Не виходьте на вулицю, доки влада не скаже, "
            "що це безпечно.",
            "en": "Get indoors, shut windows and doors, turn off ventilation and air "
            "conditioning, seal gaps with wet cloth. Protect your breathing with a respirator or "
            "a damp cloth. Do not go outside until the authorities say it is safe.",
        },
    ),
    Threat.NUCLEAR: ThreatText(
        categories=("CBRNE", "Security"),
        severity="Extreme",
        response="Shelter",
        event={"uk": "Радіаційна загроза", "en": "Nuclear threat"},
        instruction={
            "uk": "Негайно зайдіть в укриття або в приміщення якомога глибше в центрі будівлі, "
            "подалі від вікон. Зачиніть вікна й двері, вимкніть вентиляцію. Залишайтеся "
            "всередині щонайменше 24 години або до вказівок влади. Препарати йоду приймайте "
            "лише за вказівкою влади.",
            "en": "Get inside a shelter or as deep inside a building as you can, away from "
            "windows, now. Shut windows and doors, turn off ventilation. Stay inside for at "
            "least 24 hours or until the authorities tell you otherwise. Take iodine tablets "
            "only when told to by the authorities.",
        },
    ),
}

DETAILS: dict[Detail, dict[str, str]] = {
    Detail.DRONES: {"uk": "ударні БпЛА", "en": "attack drones"},
    Detail.CRUISE_MISSILE: {"uk": "крилаті ракети", "en": "cruise missiles"},
    Detail.BALLISTIC_MISSILE: {"uk": "балістичні ракети", "en": "ballistic missiles"},
    Detail.GUIDED_BOMBS: {"uk": "керовані авіабомби", "en": "guided aerial bombs"},
    Detail.AVIATION: {"uk": "тактична авіація", "en": "tactical aviation"},
}

ALL_CLEAR = {
    "uk": "Відбій тривоги: можна виходити з укриття. Будьте обережні: не торкайтеся уламків і "
    "незнайомих предметів, повідомляйте про них за номером 101. Стежте за наступними "
    "повідомленнями.",
    "en": "All clear: you may leave the shelter. Stay careful: do not touch debris or unknown "
    "objects, report them on 101. Watch for further alerts.",
}

CANCELLED = {
    "uk": "Попереднє повідомлення скасовано: його надіслано помилково. Жодних дій не потрібно.",
    "en": "The earlier message is cancelled: it was issued in error. No action is needed.",
}

HEADLINE = {
    "declared": {"uk": "{event}: {area}", "en": "{event}: {area}"},
    "updated": {"uk": "{event} триває: {area}", "en": "{event} continues: {area}"},
    "ended": {"uk": "Відбій: {event}, {area}", "en": "All clear: {event}, {area}"},
    "retracted": {"uk": "Скасовано: {event}, {area}", "en": "Cancelled: {event}, {area}"},
}

DRILL_PREFIX = {
    "exercise": {"uk": "НАВЧАННЯ. ", "en": "EXERCISE. "},
    "test": {"uk": "ТЕСТ. ", "en": "TEST. "},
}

DRILL_NOTE = {
    "exercise": "Навчальне повідомлення, не справжня тривога. / An exercise, not a real alert.",
    "test": "Тестове повідомлення, не справжня тривога. / A test, not a real alert.",
}

WORDS = {
    "threat_kinds": {"uk": "Засоби ураження", "en": "Weapons"},
    "notes": {"uk": "Примітка диспетчера", "en": "Dispatcher's note"},
    "since": {"uk": "Діє з", "en": "In force since"},
    "ended_at": {"uk": "Завершено о", "en": "Ended at"},
    "kyiv": {"uk": "за київським часом", "en": "Kyiv time"},
    "sender_name": {"uk": "Тривога: хаб {hub}", "en": "tryvoha alert hub {hub}"},
}
