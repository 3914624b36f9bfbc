"""Tools for developing the gateway (lock files, checks); never imported by the product."""
