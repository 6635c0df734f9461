"""The bodies of both compatible surfaces, as the OpenAPI document describes them.

The handlers render the shapes the upstream clients parse (`alerts_in_ua`, `ukrainealarm`); these
models only document them, field for field, and `documented(...)` gives each route its success
body and the error answers the gate and the handler really give.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tryvoha.server.conditional import VALIDATOR_HEADERS


class CompatErrorDetail(BaseModel):
    code: str
    message: str


class CompatError(BaseModel):
    """alerts.in.ua clients read `message`; the rest read tryvoha's `error` object."""

    message: str
    error: CompatErrorDetail


class AiuThreat(BaseModel):
    threat_type: str
    level: Literal["red", "yellow"]
    started_at: str | None
    source_message: None


class AiuAlert(BaseModel):
    id: int
    location_title: str
    location_type: Literal["oblast", "raion", "hromada", "city", "unknown"]
    started_at: str
    finished_at: str | None
    updated_at: str
    alert_type: str
    location_oblast: str
    location_uid: str
    location_oblast_uid: int | None
    location_raion: str | None
    notes: str | None
    country: None
    calculated: bool | None
    location_title_en: str
    alert_level: Literal["red", "yellow"]
    threats: list[AiuThreat] | None = Field(default=None, description="Active alerts only.")


class AiuMeta(BaseModel):
    last_updated_at: str = Field(description="`YYYY/MM/DD HH:MM:SS +0000`")
    type: Literal["full"]


class AiuAlerts(BaseModel):
    alerts: list[AiuAlert]
    meta: AiuMeta
    disclaimer: str


class UaLevel(BaseModel):
    alertLevel: Literal["Red", "Yellow"]
    reason: str
    createdAt: str


class UaActiveAlert(BaseModel):
    regionId: str
    regionType: str
    type: str
    lastUpdate: str
    activeAlertLevels: list[UaLevel] | None = Field(default=None, description="AIR only.")


class UaRegion(BaseModel):
    regionId: str
    regionType: str
    regionName: str
    regionEngName: str
    lastUpdate: str
    activeAlerts: list[UaActiveAlert]


class UaStatus(BaseModel):
    lastActionIndex: int


class UaNode(BaseModel):
    regionId: str
    regionName: str
    regionType: str
    regionChildIds: list[UaNode]


class UaTree(BaseModel):
    states: list[UaNode]


class UaAlarm(BaseModel):
    regionId: str
    regionName: str
    startDate: str
    endDate: str
    duration: str = Field(description=".NET TimeSpan, e.g. `00:45:12`")
    alertType: str
    isContinue: bool


class UaRegionHistory(BaseModel):
    regionId: str
    regionName: str
    alarms: list[UaAlarm]


class UaWebhook(BaseModel):
    webHookUrl: str


class Empty(BaseModel):
    pass


ERRORS = {
    400: "A parameter or body is not understood.",
    401: "No key (alerts.in.ua), or a key unknown to this hub or revoked.",
    403: "No key, and this hub serves ukrainealarm to keyed clients only.",
    404: "No such location, region or subscription.",
    413: "The request body is over 16 KiB.",
    422: "The webhook URL names a destination the hub may not reach (private, loopback…).",
    429: "Over the key's (or, keyless, the address's) rate; wait `Retry-After` seconds.",
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
STRING = {"application/json": {"schema": {"type": "string"}}}
WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"webHookUrl": {"type": "string", "maxLength": 2000}},
                    "required": ["webHookUrl"],
                }
            }
        },
    }
}


def documented(
    body: type[BaseModel] | Any | None, *errors: int, get: bool = True
) -> dict[str, Any]:
    """Decorator arguments: the success body (a model, or `STRING` content) and each error."""
    success: dict[str, Any] = {"description": "Success"}
    if body is STRING:
        success["content"] = STRING
    elif body is not None:
        success["model"] = body
    if get:
        success["headers"] = VALIDATOR_HEADERS
    responses: dict[int | str, dict[str, Any]] = {200: success}
    for code in errors:
        answer: dict[str, Any] = {"model": CompatError, "description": ERRORS[code]}
        if code == 429:
            answer["headers"] = RETRY_AFTER
        responses[code] = answer
    return {"response_model": None, "responses": responses}
