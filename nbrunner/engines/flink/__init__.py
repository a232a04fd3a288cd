"""``flink run -py "$(nbrunner entrypoint)" run NOTEBOOK``: the kernel joins the ``flink run`` client JVM through the
Py4J gateway Flink's ``PythonDriver`` started (``PYFLINK_GATEWAY_PORT``, no secret), with ``t_env`` and ``env``
predefined, so its jobs go where ``flink run`` points (``-t local``, ``remote``, ``yarn-*``, ``kubernetes-*``).

- :mod:`~nbrunner.engines.flink.jvm`: nbrunner's own plain Py4J connection (never pyflink's ``get_gateway()``,
  which would take the JVM's callbacks away from the kernel), the JVM's facts, this run's jobs;
- :mod:`~nbrunner.engines.flink.engine`: the engine (detect, check, the kernel's variables);
- :mod:`~nbrunner.engines.flink.hooks`: one run (start-up code, job names and ids per cell, cancelling);
- :mod:`~nbrunner.engines.flink.in_kernel`: what the kernel runs before the first cell.
"""
