"""The web side: the Flask app, the platforms' webhooks, serving and load shedding."""
