"""What a shopper's free text means: its language, its intent and the facts it carries.

Pure computation, trained when a flow loads from the flow's own examples; nothing is
downloaded and nothing is stored.
"""
