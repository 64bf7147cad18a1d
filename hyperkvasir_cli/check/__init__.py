"""Integrity: archives against their expected size and sha256, zip members against their
CRC-32, extracted trees against the archive's directory, and checksum files.
"""
