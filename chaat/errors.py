"""Every error a client can see. Each class's docstring is its default message.

ChaatError                     -> {"error": {"code", "message", "details"?}}
├── BadRequest                 400 bad_request (not HTTP that aiohttp can parse)
├── InvalidJson                400 invalid_json
├── Unauthorized               401 unauthorized
├── InvalidCredentials         401 invalid_credentials
├── Forbidden                  403 forbidden
├── NotFriends                 403 not_friends (+ details)
├── Blocked                    403 blocked
├── RegistrationClosed         403 registration_closed
├── InvalidInvite              403 invalid_invite
├── NotFound                   404 not_found
├── UserNotFound               404 user_not_found
├── MethodNotAllowed           405 method_not_allowed
├── RequestTimeout             408 request_timeout (a body too slow to arrive)
├── Conflict                   409 (one subclass per code)
│   ├── UsernameTaken, AlreadyFriends, RequestPending, NotPending,
│   └── AlreadyParticipant, ClientIdConflict, MessageDeleted
├── PayloadTooLarge            413 payload_too_large
├── Unprocessable              422 (+ details)
│   ├── ValidationError        422 validation_error
│   └── SelfRequest, NotAGroup, TooManyParticipants, EmptyBody, BodyTooLong,
│       TooManyReactions
├── RateLimited                429 rate_limited
├── InternalError              500 internal_error
└── Unavailable                503 unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar, TypedDict


class Detail(TypedDict, total=False):
    field: str
    problem: str
    value: Any


class ChaatError(Exception):
    """Something went wrong."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str | None = None, details: list[Detail] | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ChaatError):
    """The request is not well-formed HTTP (or its request line or a header is over 8 KiB)."""

    status, code = 400, "bad_request"


class InvalidJson(ChaatError):
    """The request body must be a JSON object."""

    status, code = 400, "invalid_json"


class Unauthorized(ChaatError):
    """A valid token is required: send `Authorization: Bearer <token>`."""

    status, code = 401, "unauthorized"


class InvalidCredentials(ChaatError):
    """Wrong username or password."""

    status, code = 401, "invalid_credentials"


class Forbidden(ChaatError):
    """You are not allowed to do this."""

    status, code = 403, "forbidden"


class NotFriends(ChaatError):
    """You can only do this with your friends."""

    status, code = 403, "not_friends"


class Blocked(ChaatError):
    """One of you blocks the other."""

    status, code = 403, "blocked"


class RegistrationClosed(ChaatError):
    """This server takes no new accounts."""

    status, code = 403, "registration_closed"


class InvalidInvite(ChaatError):
    """Signing up here needs a valid invite code."""

    status, code = 403, "invalid_invite"


class NotFound(ChaatError):
    """No such thing."""

    status, code = 404, "not_found"


class UserNotFound(ChaatError):
    """No such user."""

    status, code = 404, "user_not_found"


class MethodNotAllowed(ChaatError):
    """This path does not take that method."""

    status, code = 405, "method_not_allowed"

    def __init__(self, message: str | None = None, *, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class RequestTimeout(ChaatError):
    """The request body took too long to arrive."""

    status, code = 408, "request_timeout"


class Conflict(ChaatError):
    """That conflicts with the current state."""

    status = 409


class UsernameTaken(Conflict):
    """That username is taken."""

    code = "username_taken"


class AlreadyFriends(Conflict):
    """You are already friends."""

    code = "already_friends"


class RequestPending(Conflict):
    """You already have a pending request to this user."""

    code = "request_pending"


class NotPending(Conflict):
    """This friend request is no longer pending."""

    code = "not_pending"


class AlreadyParticipant(Conflict):
    """That user is already in this chat."""

    code = "already_participant"


class ClientIdConflict(Conflict):
    """This client_id was already used for a different message."""

    code = "client_id_conflict"


class MessageDeleted(Conflict):
    """This message was deleted."""

    code = "message_deleted"


class PayloadTooLarge(ChaatError):
    """The request body is larger than 64 KiB."""

    status, code = 413, "payload_too_large"


class Unprocessable(ChaatError):
    """The request breaks a rule."""

    status, code = 422, "validation_error"

    def __init__(self, message: str | None = None, details: list[Detail] | None = None) -> None:
        # The contract promises at least one details entry on every 422.
        super().__init__(
            message, details or [{"field": "", "problem": message or self.__doc__ or ""}]
        )


class ValidationError(Unprocessable):
    """The request is not valid."""

    code = "validation_error"


class SelfRequest(Unprocessable):
    """You cannot send a friend request to yourself."""

    code = "self_request"


class NotAGroup(Unprocessable):
    """Direct chats are fixed: this only works on group chats."""

    code = "not_a_group"


class TooManyParticipants(Unprocessable):
    """A group chat cannot have that many participants."""

    code = "too_many_participants"


class EmptyBody(Unprocessable):
    """A message body cannot be empty or only white space."""

    code = "empty_body"


class BodyTooLong(Unprocessable):
    """A message body is at most 4000 characters."""

    code = "body_too_long"


class TooManyReactions(Unprocessable):
    """A message carries at most 20 different emoji."""

    code = "too_many_reactions"


class RateLimited(ChaatError):
    """Too many requests; try again later."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalError(ChaatError):
    """Something went wrong on our side."""


class Unavailable(ChaatError):
    """The database cannot be reached right now; try again."""

    status, code = 503, "unavailable"
