"""HubSpot's error envelope and timestamps, shared by every part of the HubSpot sandbox.

Kept apart from the endpoints so the objects, properties and auth modules all answer errors in
exactly one shape: `{"status":"error","message","correlationId","category",…}`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

JsonDict = dict[str, Any]


def timestamp() -> str:
    """HubSpot's timestamps: ISO 8601, UTC, milliseconds, `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotError(Exception):
    """An error in HubSpot's shape: status, message, correlationId, category (+ extra fields)."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra

    def body(self) -> JsonDict:
        return {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
            **self.extra,
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def not_found(message: str = "resource not found") -> HubSpotError:
    return HubSpotError(404, message, "OBJECT_NOT_FOUND")


def validation(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", **extra)


def property_doesnt_exist(name: str) -> HubSpotError:
    """What HubSpot answers to a write naming a property the account does not define."""
    text = f'Property \\"{name}\\" does not exist'
    return validation(
        f'Property values were not valid: [{{"isValid":false,"message":"{text}","error":"PROPERTY_DOESNT_EXIST",'
        f'"name":"{name}","localizedErrorMessage":"{text}"}}]',
        errors=[{"message": f'Property "{name}" does not exist', "code": "PROPERTY_DOESNT_EXIST",
                 "context": {"propertyName": [name]}}],
    )
