"""Local platform sandbox: fake Twilio, Graph and Telegram APIs plus a shopper simulator page.

`Sandbox` runs it in a thread for tests; `serve()` runs it in the foreground for demos.
"""

from adapters.sandbox.server import Sandbox, main, serve

__all__ = ["Sandbox", "main", "serve"]
