"""The conversation engine: flows.yaml in, a validated immutable tree out, and a pure `step()`.

Nothing here does network or storage I/O; `call` nodes go through the `Services` interface
that the caller provides.
"""
