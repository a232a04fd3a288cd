"""Which kernel runs a notebook: nbrunner's own (this interpreter, no kernelspec needed) or an installed kernelspec,
decided before anything runs (:class:`KernelChoice`). Starting and stopping it is :mod:`nbrunner.run.kernel`'s."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nbrunner.errors import UsageError

#: The name nbrunner gives its own kernel: this interpreter, running ipykernel.
SAME_INTERPRETER = "nbrunner-python"


def same_interpreter_spec() -> Any:
    from jupyter_client.kernelspec import KernelSpec

    return KernelSpec(
        # ipykernel, its IOPub socket waiting for the reader instead of dropping (nbrunner.run.kernel_app)
        argv=[sys.executable, "-m", "nbrunner.run.kernel_app", "-f", "{connection_file}"],
        display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (nbrunner)",
        language="python",
        resource_dir="",
        env={},
        metadata={},
    )


@dataclass(frozen=True)
class KernelChoice:
    """Which kernel to start: its name, its installed kernelspec (None: this interpreter's kernel) and its language,
    looked up before anything runs."""

    name: str
    spec: Any = None
    language: str = "python"

    @property
    def is_python(self) -> bool:
        return is_python(self.language)

    def kernelspec(self) -> Any:
        """The jupyter_client KernelSpec to start. This interpreter's is made only now: importing jupyter_client
        takes 0.15 s that, under spark-submit, had better overlap the SparkContext's creation than precede it."""
        return self.spec if self.spec is not None else same_interpreter_spec()


def is_python(language: str) -> bool:
    return language.lower().startswith("python")


def notebook_language(metadata: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(kernelspec name, language) a notebook's metadata declares; either may be None."""
    spec: dict[str, Any] = metadata["kernelspec"] if isinstance(metadata.get("kernelspec"), dict) else {}
    info: dict[str, Any] = metadata["language_info"] if isinstance(metadata.get("language_info"), dict) else {}
    name = spec.get("name") if isinstance(spec.get("name"), str) else None
    language = spec.get("language") or info.get("name")
    return name, language if isinstance(language, str) and language else None


def kernel_choice(name: str | None, metadata: Mapping[str, Any] | None = None) -> KernelChoice:
    """The kernel to run a notebook in. ``name`` (``--kernel``) wins. Otherwise a notebook in a language other
    than Python gets its own installed kernelspec, and a Python notebook this interpreter (no kernelspec needed).
    A missing kernelspec is a UsageError (exit 2) naming the installed ones."""
    how = f"--kernel {name}"
    if name is None:
        declared, language = notebook_language(metadata or {})
        if language is None or is_python(language):
            return KernelChoice(SAME_INTERPRETER)
        if declared is None:
            raise UsageError(
                f"the notebook is written in {language} but names no kernelspec; pass --kernel NAME for a {language} "
                "kernel"
            )
        name, how = declared, f"the notebook's kernel {declared!r} ({language})"
    if name == SAME_INTERPRETER:
        return KernelChoice(SAME_INTERPRETER)
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel as e:
        known = ", ".join(sorted(manager.find_kernel_specs())) or "none installed"
        raise UsageError(
            f"{how}: no such kernelspec is installed (installed: {known}); install it or pass --kernel"
        ) from e
    return KernelChoice(name, spec, str(spec.language or "python"))
