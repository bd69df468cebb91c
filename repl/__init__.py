"""The interactive chat shell: `chaat repl`.

shell.py     the loop: prompt, run a line, Ctrl-C/Ctrl-D, login session; run() checks the URL
commands.py  reading a line (no I/O) and the @command registry
handlers/    every /command, declared with its parameters and help: account, friends, chats
chat_view.py the open chat on screen: new and earlier messages in order, read markers
live.py      following GET /v1/events and reacting to each event
state.py     what the shell knows (user, friends, chats, requests) and loading it
completer.py Tab completion from that state
render.py    how chats, messages, requests and times look
client.py    the HTTP API as Python calls
"""

from . import handlers as handlers  # declares every command in commands.COMMANDS
