"""The only callers of queries/: one module per table, one typed function per query.

Every function takes an acquired connection first and keyword-only parameters,
so that two ids of the same type cannot be swapped by accident.
"""

from chaat.store import (
    blocks,
    chats,
    events,
    friend_requests,
    friendships,
    invites,
    messages,
    participants,
    rate_limits,
    reactions,
    tokens,
    users,
)

__all__ = [
    "blocks",
    "chats",
    "events",
    "friend_requests",
    "friendships",
    "invites",
    "messages",
    "participants",
    "rate_limits",
    "reactions",
    "tokens",
    "users",
]
