#!/usr/bin/env bash
# The image's entrypoint, with the contract of Spark's own images for Kubernetes cluster mode
# (spark-submit --master k8s://... --deploy-mode cluster --conf spark.kubernetes.container.image=this-image):
#   driver ARGS...   the driver pod: spark-submit in client mode with ARGS (nbrunner's launcher and `run ...`)
#   executor         an executor pod: Spark's Kubernetes executor, configured by the SPARK_* variables the driver sets
#   anything else    run as given (the image's default command, `nbrunner run ...`, a shell)
# With no arguments at all it prints this usage and exits 2.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: entrypoint.sh driver SPARK-SUBMIT-ARGS... | executor | COMMAND [ARGS...]" >&2
  exit 2
fi

if [ -z "${SPARK_HOME:-}" ]; then  # pyspark's own folder: its bin/ and jars/ are a Spark distribution
  SPARK_HOME="$(python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
fi
export SPARK_HOME

# Kubernetes (OpenShift especially) may run the pod as a uid the image has no passwd entry for; Spark and Hadoop
# need a user name
if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
  if [ -w /etc/passwd ]; then
    echo "$(id -u):x:$(id -u):$(id -g):${SPARK_USER_NAME:-anonymous uid}:${HOME:-/tmp}:/bin/false" >> /etc/passwd
  else
    export SPARK_USER="${SPARK_USER:-${SPARK_USER_NAME:-spark}}" HADOOP_USER_NAME="${HADOOP_USER_NAME:-${SPARK_USER_NAME:-spark}}"
  fi
fi

classpath="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$SPARK_HOME/jars/*"
if [ -n "${HADOOP_CONF_DIR:-}" ]; then classpath="$HADOOP_CONF_DIR:$classpath"; fi
if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then classpath="$classpath:$SPARK_EXTRA_CLASSPATH"; fi
if [ -n "${SPARK_DIST_CLASSPATH:-}" ]; then classpath="$classpath:$SPARK_DIST_CLASSPATH"; fi

case "$1" in
  driver)
    shift
    command=("$SPARK_HOME/bin/spark-submit" --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}"
             --deploy-mode client "$@")
    ;;
  executor)
    shift
    # SPARK_JAVA_OPT_0, _1, ...: the executor's JVM options, in their numeric order, each variable one option
    # whatever its value holds (read by name, never by parsing `env`'s output: a value with a newline and
    # "SPARK_JAVA_OPT_9=..." in it must not become a second option)
    java_opts=()
    while IFS= read -r name; do
      [ -n "${!name}" ] && java_opts+=("${!name}")
    done < <(compgen -e | grep -E '^SPARK_JAVA_OPT_[0-9]+$' | sort -t_ -k4,4n)
    java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
    command=("$java" "${java_opts[@]}" "-Xms${SPARK_EXECUTOR_MEMORY:?}" "-Xmx${SPARK_EXECUTOR_MEMORY}"
             -cp "$classpath" org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend
             --driver-url "${SPARK_DRIVER_URL:?}" --executor-id "${SPARK_EXECUTOR_ID:?}"
             --cores "${SPARK_EXECUTOR_CORES:?}" --app-id "${SPARK_APPLICATION_ID:?}"
             --hostname "${SPARK_EXECUTOR_POD_IP:?}" --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}"
             --podName "${SPARK_EXECUTOR_POD_NAME:-}")
    ;;
  *)
    command=("$@")
    ;;
esac

# under tini where the image has it: signals reach the command, and the orphans it leaves are reaped
if command -v tini >/dev/null 2>&1; then
  exec tini -s -- "${command[@]}"
fi
exec "${command[@]}"
