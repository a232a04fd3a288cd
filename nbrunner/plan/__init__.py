"""Before anything runs: inputs read and checked, parameters resolved, outputs placed, resume loaded -> one Plan.

The only stage where exits 2 (usage) and 3 (parameters) arise."""
