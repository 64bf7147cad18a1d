"""Members on demand: a server's zip read by range (its directory, then chosen members)."""
