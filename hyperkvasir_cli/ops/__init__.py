"""The workflows a user runs (download, extract, sync, checksum, stats, split, parts),
each over a session of settings, layout, config store, lock, clock and progress reporter.
No console: the command layer renders what these return.
"""
