"""Every /command: its name, parameters and help, declared with @command on its handler.

A handler is `async def name(shell, *args)`; it may raise ShellError, ApiError or
ServerUnreachable, which the shell prints as one line. Importing this package
declares them all, in the order /help lists them: account, friends, chats, messages.
"""

from . import account as account  # isort: skip  (the order of /help)
from . import friends as friends  # isort: skip
from . import chats as chats  # isort: skip
from . import messages as messages  # isort: skip
