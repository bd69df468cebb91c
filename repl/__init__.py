"""The interactive chat shell: `chaat repl`.

client.py talks HTTP to the server, commands.py parses lines (no I/O), shell.py
runs the prompt, the completer and the live events.
"""
