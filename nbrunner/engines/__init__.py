"""The engines that run a notebook's work: spark-submit's driver JVM (``spark/``) and a Spark Connect server
(``connect/``), each behind the one protocol in :mod:`nbrunner.engines.base`."""
