"""Where a run's results go: S3 through boto3, the local writes and rescues, the outputs file and setValue lines."""
