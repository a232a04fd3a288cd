"""The shared vocabulary every stage speaks (hooks, records, reporter, stop signals, locations, kernel choice):
imports nothing of nbrunner above it."""
