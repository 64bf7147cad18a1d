"""Benchmarks of hyperkvasir against curl, aria2c, sha256sum, bsdtar and unzip."""
