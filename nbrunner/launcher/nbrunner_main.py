"""spark-submit's primary resource for nbrunner: ``spark-submit "$(nbrunner entrypoint)" run NOTEBOOK ...``.

This folder holds nothing else, so it shadows no module when Python puts it first on sys.path.
It creates no SparkContext: the notebook's kernel attaches to the driver JVM.
"""

from nbrunner.__main__ import console

if __name__ == "__main__":
    console()
