"""One module per group of `seqoia` commands, registered by seqoia.cli."""
