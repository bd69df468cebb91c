"""Every URL of the API, in one list."""

from __future__ import annotations

from aiohttp import web

from chaat.handlers import blocks, chats, events, friends, messages, meta, users
from chaat.handlers import web as web_client

# A path parameter takes any text but a slash: aiohttp's default also refuses { and },
# which a username lookup must answer as user_not_found and an emoji may be.
routes = [
    web.get("/v1/health", meta.health),
    web.get("/v1/openapi.json", meta.openapi),
    web.post("/v1/users", users.sign_up),
    web.get("/v1/users", users.list_users),
    web.get("/v1/users/me", users.me),
    web.put("/v1/users/me/password", users.change_password),
    web.get("/v1/users/{user:[^/]+}", users.get_user),
    web.post("/v1/invites", users.create_invite),
    web.post("/v1/tokens", users.log_in),
    web.delete("/v1/tokens", users.log_out_everywhere),
    web.delete("/v1/tokens/current", users.log_out),
    web.get("/v1/friend-requests", friends.list_requests),
    web.post("/v1/friend-requests", friends.send_request),
    web.patch("/v1/friend-requests/{request_id}", friends.respond),
    web.delete("/v1/friend-requests/{request_id}", friends.withdraw),
    web.get("/v1/friends", friends.list_friends),
    web.delete("/v1/friends/{user_id}", friends.unfriend),
    web.get("/v1/blocks", blocks.list_blocks),
    web.put("/v1/blocks/{user:[^/]+}", blocks.block),
    web.delete("/v1/blocks/{user:[^/]+}", blocks.unblock),
    web.get("/v1/chats", chats.list_chats),
    web.post("/v1/chats", chats.create_chat),
    web.get("/v1/chats/{chat_id}", chats.get_chat),
    web.patch("/v1/chats/{chat_id}", chats.rename),
    web.get("/v1/chats/{chat_id}/participants", chats.list_participants),
    web.post("/v1/chats/{chat_id}/participants", chats.add_participant),
    web.delete("/v1/chats/{chat_id}/participants/{user_id}", chats.remove_participant),
    web.get("/v1/chats/{chat_id}/messages", messages.history),
    web.post("/v1/chats/{chat_id}/messages", messages.send),
    web.get("/v1/chats/{chat_id}/messages/{seq}", messages.get_message),
    web.patch("/v1/chats/{chat_id}/messages/{seq}", messages.edit),
    web.delete("/v1/chats/{chat_id}/messages/{seq}", messages.delete),
    web.put("/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji:[^/]+}", messages.add_reaction),
    web.delete(
        "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji:[^/]+}", messages.remove_reaction
    ),
    web.post("/v1/chats/{chat_id}/read", messages.mark_read),
    web.post("/v1/chats/{chat_id}/typing", messages.typing),
    web.post("/v1/users/{user:[^/]+}/messages", messages.send_to_user),
    web.get("/v1/messages", messages.search),
    web.get("/v1/events", events.follow),
    # The web client: its page and its files (chaat/web), outside the API.
    web.get("/", web_client.index),
    web.get("/static/{path:.+}", web_client.static),
]
