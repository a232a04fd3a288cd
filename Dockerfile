# nbrunner with a JRE and pyspark: the README's spark-submit command runs as is.
#   docker build -t nbrunner .
#   docker run --rm -v "$PWD/runs:/opt/nbrunner/runs" nbrunner
#   spark-submit --master k8s://https://HOST:443 --deploy-mode cluster --conf spark.kubernetes.container.image=IMAGE \
#     local:///opt/nbrunner/bin/nbrunner_main.py run /opt/nbrunner/examples/daily_report.ipynb -o s3://...
FROM python:3.11-slim-bookworm

# Java 17 for spark-submit; procps because Spark's scripts call ps; tini for the entrypoint (signals, orphans)
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless=17.* procps=2:4.* tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/nbrunner
COPY pyproject.toml README.md ./
COPY nbrunner ./nbrunner
RUN pip install --no-cache-dir . \
    && mkdir -p bin runs \
    && ln -s "$(nbrunner entrypoint)" bin/nbrunner_main.py \
    && useradd --create-home --uid 1000 nbrunner \
    && chown nbrunner runs
COPY examples/daily_report.ipynb ./examples/
# Spark's image contract for Kubernetes cluster mode: `driver ...` and `executor` (docker/entrypoint.sh); any other
# command runs as given
COPY docker/entrypoint.sh ./bin/entrypoint.sh

USER 1000
ENTRYPOINT ["/opt/nbrunner/bin/entrypoint.sh"]
CMD ["sh", "-c", "spark-submit --master 'local[*]' \"$(nbrunner entrypoint)\" run examples/daily_report.ipynb -o 'runs/{notebook}-{started}.ipynb'"]
