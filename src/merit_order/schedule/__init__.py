"""Day-ahead schedules: unit commitment over many periods, with a proven lower bound.

Pure: no web, no I/O. See docs/schedules.md.
"""
