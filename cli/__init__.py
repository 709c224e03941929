"""The `meterlake` command line: one module per group of commands, over the engine and the client."""
