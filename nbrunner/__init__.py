"""nbrunner: run parameterized Jupyter notebooks unattended, under spark-submit, with results kept."""

__version__ = "0.1.0"
