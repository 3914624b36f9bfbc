"""Experiment and flow analytics: facts recorded per turn, reports computed from them."""
