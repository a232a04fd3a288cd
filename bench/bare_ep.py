"""The floor for the design card's engine: nbconvert's ExecutePreprocessor, then one write. No checks, no record."""

import sys

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

source, target = sys.argv[1], sys.argv[2]
nb = nbformat.read(source, as_version=4)
ExecutePreprocessor(kernel_name="python3").preprocess(nb, {"metadata": {"path": "."}})
nbformat.write(nb, target)
