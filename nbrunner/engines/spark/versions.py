"""Which Spark meets which pyspark: the driver JVM's version against the kernel's pyspark (major.minor must
agree: the Py4J surface changes between minor releases), found without importing pyspark where it can be, and
the defaults each version's SparkContext sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbrunner.engines.packages import kernel_version, same_minor
from nbrunner.errors import GatewayError

if TYPE_CHECKING:
    from nbrunner.gateway import Driver

#: what pyspark's SparkContext sets on the conf when missing, by Spark major version (DEFAULT_CONFIGS of
#: pyspark.core.context in 4.x, of pyspark.context in 3.5; a test checks the installed pyspark's)
PYSPARK_DEFAULT_CONFIGS = {
    3: {"spark.serializer.objectStreamReset": "100", "spark.rdd.compress": "True"},
    4: {"spark.serializer.objectStreamReset": "100", "spark.sql.artifact.isolation.enabled": "false"},
}


def pyspark_default_configs(spark_version: str) -> dict[str, str]:
    major = int(spark_version.split(".")[0])
    return PYSPARK_DEFAULT_CONFIGS.get(major, PYSPARK_DEFAULT_CONFIGS[max(PYSPARK_DEFAULT_CONFIGS)])


def check_kernel_pyspark(driver: Driver, kernel_spec: Any, env: Mapping[str, str], *, same_interpreter: bool) -> str:
    """The kernel's pyspark must match the JVM's Spark (major.minor: the Py4J surface changes between minor
    releases); GatewayError says which versions met."""
    found = kernel_version("pyspark", kernel_spec, env, same_interpreter=same_interpreter)
    if found is None:
        raise GatewayError(
            f"the kernel's Python cannot import pyspark, but the driver runs Spark {driver.spark_version}; "
            f"install pyspark=={driver.spark_version} for it"
        )
    version, where = found
    if not same_minor(version, driver.spark_version):
        raise GatewayError(
            f"version mismatch: the kernel's pyspark is {version} (from {where}) but the driver JVM runs "
            f"Spark {driver.spark_version}; install pyspark=={driver.spark_version} or fix PYTHONPATH/--py-files"
        )
    return version
