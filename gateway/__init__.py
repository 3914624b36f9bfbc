"""The gateway service: web app, CLI, storage, queue, workers, inbox and reports."""
