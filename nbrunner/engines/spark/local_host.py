"""A local Spark driver on a machine whose host name does not resolve (a bare container, a chroot, a VM with a
generated name): the one rule every place that starts spark-submit for nbrunner applies.

spark-submit's JVM looks the host name up while it parses its own arguments (Spark's config gives
``spark.driver.host`` the canonical local host name as its default) and dies with ``java.net.UnknownHostException``
before any Python runs, whatever ``--conf`` says: only ``SPARK_LOCAL_IP`` / ``SPARK_LOCAL_HOSTNAME`` in its
environment avoid it (checked with pyspark 4.3.0 in a UTS namespace with an unresolvable name). So the rule is
applied before spark-submit starts: for a local master (``local``, ``local[N]``, ``local[*]``, ``local-cluster[...]``)
when the host name does not resolve and neither variable is set, the driver runs on 127.0.0.1 (both variables, and
``spark.driver.host`` / ``spark.driver.bindAddress`` unless given), with a one-line warning. Any other master is left
alone: the cluster must reach the driver at an address only the user knows.

``python -m nbrunner.engines.spark.local_host [--master M]`` prints the rule's outcome as shell words for scripts
(``dev/example.sh``): ``export ...`` and a ``spark_conf=(...)`` array, the warning on stderr.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
#: what spark-submit's JVM reads instead of resolving the host name; either one set means the user chose
ENV_VARS = ("SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME")
CONF_KEYS = ("spark.driver.host", "spark.driver.bindAddress")
#: spark-submit's own default when neither --master nor spark-defaults.conf names one
DEFAULT_MASTER = "local[*]"
#: with both keys in its environment spark-submit names this host in their source
#: (``SparkHadoopUtil.appendS3CredentialsFromEnvironment``: ``InetAddress.getLocalHost``), whatever SPARK_LOCAL_IP
#: says; under the rule they reach nbrunner's Python under names of their own (:data:`HANDED_PREFIX`), never the JVM
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
HANDED_PREFIX = "NBRUNNER_HANDED_"
KEYS_HANDED_OVER = (
    "the AWS keys in the environment go to nbrunner and the notebook but not to Spark's JVM, which would look the name "
    "up to use them (Spark's own s3a:// reads need another credential source, or the name in /etc/hosts)"
)


@dataclass(frozen=True)
class Loopback:
    """What a local driver needs here: variables for spark-submit's environment, ``--conf`` pairs, the warning."""

    env: dict[str, str] = field(default_factory=dict)
    conf: dict[str, str] = field(default_factory=dict)
    warning: str = ""
    #: variables spark-submit must not see, handed to nbrunner under HANDED_PREFIX + name (AWS keys)
    handed: tuple[str, ...] = ()

    def conf_args(self) -> list[str]:
        return [word for key, value in self.conf.items() for word in ("--conf", f"{key}={value}")]

    def applied(self, environ: Mapping[str, str]) -> dict[str, str]:
        """spark-submit's environment under the rule: its variables set, the handed-over ones renamed."""
        found = {**environ, **self.env}
        for name in self.handed:
            if name in found:
                found[HANDED_PREFIX + name] = found.pop(name)
        return found


def take_handed_over(environ: MutableMapping[str, str]) -> None:
    """Under spark-submit: the AWS keys the rule kept from the JVM back under their own names, for nbrunner's S3
    client and the kernel (a value set under the real name wins)."""
    for name in AWS_KEYS:
        value = environ.pop(HANDED_PREFIX + name, None)
        if value is not None:
            environ.setdefault(name, value)


def is_local_master(master: str) -> bool:
    return master == "local" or master.startswith(("local[", "local-cluster["))


def host_name_resolves(name: str) -> bool:
    try:
        socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    return True


def master_of(args: Sequence[str], conf: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """The master spark-submit will use: ``--master`` in ``args``, else ``spark.master`` in ``conf``, else
    spark-defaults.conf's (``$SPARK_CONF_DIR``, else ``$SPARK_HOME/conf``), else spark-submit's default."""
    for i, arg in enumerate(args):
        if arg == "--master" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--master="):
            return arg.partition("=")[2]
    if conf.get("spark.master"):
        return conf["spark.master"]
    folder = environ.get("SPARK_CONF_DIR") or (
        os.path.join(environ["SPARK_HOME"], "conf") if environ.get("SPARK_HOME") else ""
    )
    if folder:
        try:
            lines = Path(folder, "spark-defaults.conf").read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            words = line.replace("=", " ", 1).split(None, 1)
            if len(words) == 2 and words[0] == "spark.master":
                return words[1].strip()
    return DEFAULT_MASTER


def loopback_driver(
    master: str, conf: Mapping[str, str], environ: Mapping[str, str], *, host_name: str | None = None
) -> Loopback | None:
    """The rule: a :class:`Loopback` when ``master`` is local, neither SPARK_LOCAL_IP nor SPARK_LOCAL_HOSTNAME is
    set and this machine's host name (``host_name``: for tests) does not resolve (with one of them set, only the AWS
    keys' hand-over, where both keys are set); else None (nothing to change)."""
    if not is_local_master(master):
        return None
    keys = all(environ.get(key) for key in AWS_KEYS[:2])
    chosen = any(environ.get(key) for key in ENV_VARS)  # the address is the user's choice
    if chosen and not keys:
        return None  # nothing to change, no name to look up
    name = socket.gethostname() if host_name is None else host_name
    if host_name_resolves(name):
        return None
    handed = tuple(key for key in AWS_KEYS if environ.get(key)) if keys else ()
    unresolved = f"nbrunner: warning: this machine's host name {name!r} does not resolve: "
    if chosen:  # the AWS keys still make the JVM look the name up, whatever SPARK_LOCAL_IP says
        return Loopback(warning=unresolved + KEYS_HANDED_OVER, handed=handed)
    return Loopback(
        env=dict.fromkeys(ENV_VARS, LOOPBACK),
        conf={key: LOOPBACK for key in CONF_KEYS if key not in conf},
        warning=f"{unresolved}the local Spark driver runs on {LOOPBACK} (set SPARK_LOCAL_IP to choose the address)"
        + (f"; {KEYS_HANDED_OVER}" if handed else ""),
        handed=handed,
    )


def main(argv: Sequence[str]) -> int:
    """Shell words for a script that starts spark-submit
    (``eval "$(python -m nbrunner.engines.spark.local_host ...)"``)."""
    args = list(argv)
    loopback = loopback_driver(master_of(args, {}, os.environ), {}, os.environ)
    conf = loopback.conf_args() if loopback else []
    if loopback:
        print(loopback.warning, file=sys.stderr)
        exported = {**loopback.env, **{HANDED_PREFIX + key: os.environ[key] for key in loopback.handed}}
        print("export " + " ".join(f"{key}={shlex.quote(value)}" for key, value in exported.items()))
        if loopback.handed:
            print("unset " + " ".join(loopback.handed))
    print("spark_conf=(" + " ".join(shlex.quote(word) for word in conf) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
