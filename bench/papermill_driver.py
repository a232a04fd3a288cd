"""papermill run from a spark-submit primary resource, the way teams glue it to Spark today."""

import sys

import papermill

papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="python3", progress_bar=False)
