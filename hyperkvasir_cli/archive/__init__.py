"""Zip archives: reading the central directory, judging every member's safety, streaming
and inflating members, selecting them, and extracting a part with worker processes.
"""
