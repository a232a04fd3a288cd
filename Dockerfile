# nbrunner with a JRE and pyspark: the README's spark-submit command runs as is.
#   docker build -t nbrunner .
#   docker run --rm -v "$PWD/runs:/opt/nbrunner/runs" nbrunner
FROM python:3.11-slim-bookworm

# Java 17 for spark-submit; procps because Spark's scripts call ps
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless=17.* procps=2:4.* \
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

USER 1000
CMD ["sh", "-c", "spark-submit --master 'local[*]' \"$(nbrunner entrypoint)\" run examples/daily_report.ipynb -o 'runs/{notebook}-{started}.ipynb'"]
