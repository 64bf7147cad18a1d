"""Bytes from a server into a partial file: HTTP and ``file://`` clients, ranged
requests, validators and the resume rules, retries, rate limits, the partial file and its
sidecar, segments over several connections, and the engine that runs them.
"""
