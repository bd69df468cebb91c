"""The interactive chat shell: `chaat repl`.

shell.py     the loop: prompt, run a line, Ctrl-C/Ctrl-D, login session; run() checks the URL
commands.py  reading a line (no I/O) and the @command registry
handlers/    every /command, declared with its parameters and help: account, friends, chats,
             messages
chat_view.py the open chat on screen: new and earlier messages in order, changes, read markers
live.py      following GET /v1/events and reacting to each event; other chats' news in digests
outbox.py    lines the server has not taken yet, sent once it is back
activity.py  typing notices: sending ours, showing others' in the bottom toolbar
state.py     what the shell knows (user, friends, chats, requests, blocks) and loading it
completer.py Tab completion from that state
render.py    how chats, messages, requests and times look
client.py    the HTTP API as Python calls
"""

from . import handlers as handlers  # declares every command in commands.COMMANDS
