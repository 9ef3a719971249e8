"""Benchmarks: taskwatch and its peers side by side against the emulator (``make bench``)."""
