"""Channel adapters: one module per platform (verify, parse, render, send) and the local sandbox."""
