"""The morning view: ``nbrunner runs``, the runs under a folder or an ``s3://`` prefix, as lines, JSON or one page."""
