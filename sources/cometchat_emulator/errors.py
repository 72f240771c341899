"""The API's error envelope and the errors the emulator answers with."""

from __future__ import annotations

from typing import Any

VALIDATION_MESSAGE = "Failed to validate the data sent with the request."


class ApiError(Exception):
    """An error the API reports as `{"error": {...}}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        dev_message: str | None = None,
        details: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.dev_message = dev_message or message
        self.details = details
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "devMessage": self.dev_message,
            "source": "chat-api",
        }
        if self.details is not None:
            error["details"] = self.details
        error["code"] = self.code
        return {"error": error}


def bad_request(details: dict[str, list[str]]) -> ApiError:
    return ApiError(400, "ERR_BAD_REQUEST", VALIDATION_MESSAGE, details=details)


def uid_not_found(uid: str) -> ApiError:
    uid = uid.lower()
    return ApiError(
        404,
        "ERR_UID_NOT_FOUND",
        f"The UID {uid} does not exist, please make sure you have created a user with UID {uid}.",
        f"The UID {uid} does not exist, so please make sure you have created a user with UID {uid}.",
    )


def guid_not_found(guid: str) -> ApiError:
    guid = guid.lower()
    return ApiError(
        404,
        "ERR_GUID_NOT_FOUND",
        f"The GUID {guid} does not exist, please make sure you have created a group with GUID {guid}.",
        f"The GUID {guid} does not exist, so please make sure you have created a group with GUID {guid}.",
    )


def message_not_found(message_id: str) -> ApiError:
    return ApiError(404, "ERR_MSG_NOT_FOUND", f"The message with id {message_id} does not exist.")


def conversation_not_accessible(conversation_id: str, uid: str) -> ApiError:
    return ApiError(
        403,
        "ERR_CONVERSATION_NOT_ACCESSIBLE",
        f"The conversation {conversation_id} is not accessible for the user {uid}.",
        f"The user {uid} is not a participant of the conversation {conversation_id}.",
    )


def message_not_accessible(message_id: str, uid: str) -> ApiError:
    return ApiError(
        403,
        "ERR_MESSAGE_NO_ACCESS",
        f"The user {uid} does not have access to the message with id {message_id}.",
    )


def api_not_found() -> ApiError:
    message = "The API endpoint is invalid. Please verify the API call."
    return ApiError(404, "ERR_API_NOT_FOUND", message)


def empty_api_key() -> ApiError:
    return ApiError(
        401,
        "AUTH_ERR_EMPTY_APIKEY",
        "The API key is missing in the request headers. Please pass a valid API key.",
    )


def api_key_not_found() -> ApiError:
    # The real API echoes the key; the emulator does not, so a leaked wrong key never comes from here.
    return ApiError(
        401,
        "AUTH_ERR_APIKEY_NOT_FOUND",
        "The API key passed in the request headers does not exist for this app.",
    )


def invalid_app_id(app_id: str) -> ApiError:
    return ApiError(
        401,
        "AUTH_ERR_INVALID_APPID",
        f"The appId {app_id} is invalid or it does not exist in the region.",
    )


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "ERR_TOO_MANY_REQUESTS",
        "The rate limit has been exceeded. Please try again after some time.",
        headers={"Retry-After": str(retry_after)},
    )


def server_fault(status: int) -> ApiError:
    codes = {500: "ERR_EXCEPTION", 502: "ERR_BAD_GATEWAY", 503: "ERR_SERVICE_UNAVAILABLE"}
    return ApiError(status, codes[status], "Something went wrong on the server. Please try again later.")
