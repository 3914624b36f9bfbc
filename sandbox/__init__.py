"""Local platform sandbox: fake Twilio, Graph and Telegram APIs plus a shopper simulator page.

`sandbox.server.Sandbox` runs it in a thread for tests; `sandbox.server.serve()` runs it in
the foreground for demos. The package imports nothing itself, so its modules can import one
another through it without a cycle.
"""
