"""What the platform adapters share: text shaping, redaction and HTTP transport."""
