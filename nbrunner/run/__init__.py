"""One run, start to end: the pipeline, the kernel and its engine, cell statuses, hooks, signals, records, chains."""
