"""The ground floor: what every other layer shares.

Errors and their exit codes, progress reporting, the clock, units, atomic writes, YAML
error messages, class names, the manifest of parts, the config file and settings, the
data folder's layout and lock, disk space and hashing. Nothing here imports another
layer of the package.
"""
