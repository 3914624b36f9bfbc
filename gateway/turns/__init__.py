"""Turn processing: workers, their send pipeline, the outbox sender, circuits and pacing."""
