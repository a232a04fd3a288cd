"""``python -m nbrunner``, the ``nbrunner`` console script and the spark-submit launcher: the process's entry.

Signals are stops from its first line (:func:`~nbrunner.core.signals.stop_early`), before the command line's
modules are imported; then :func:`nbrunner.cli.main` turns every outcome into one exit status.
"""

import os
import sys

from nbrunner.core.signals import StopSignal, stop_early


def console() -> None:
    stop_early()
    if "NBRUNNER_HANDED_AWS_ACCESS_KEY_ID" in os.environ:  # the host-name rule kept them from spark-submit's JVM
        from nbrunner.engines.spark.local_host import take_handed_over

        take_handed_over(os.environ)
    try:
        from nbrunner.cli import main
    except StopSignal as stop:  # while the command line's modules were being imported
        from nbrunner.errors import exit_code_of, stopped_by

        error = stopped_by(stop.signum)
        sys.stderr.write(f"nbrunner: error: {error}\n")
        sys.exit(exit_code_of(error))
    main()


if __name__ == "__main__":
    console()
