"""The `gateway` command and its subcommands."""
