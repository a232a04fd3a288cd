"""abfs://, abfss:// and az:// through azure-storage-blob against Azurite over HTTP on 127.0.0.1
(tests/azure_support.py; skipped, saying why, without node): the cases every store passes (tests/store_support.py),
and Azure's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import azure_support
from tests.conftest import run_cli
from tests.store_support import (  # noqa: F401 - the shared cases, collected here for abfs://
    run,
    test_a_chain_file_in_the_store_names_notebooks_beside_it,
    test_a_for_each_through_the_python_api_stores_every_iteration,
    test_a_missing_bucket_stops_the_run_before_it_starts_and_a_missing_input_is_exit_2,
    test_a_missing_extra_is_exit_2_in_one_line_naming_it,
    test_checkpoints_of_a_running_cell_are_in_the_store_before_it_ends,
    test_inputs_and_a_parameters_file_are_read_and_runs_lists_the_records,
    test_outputs_are_stored_with_types_and_metadata_record_last,
    test_resume_reads_the_record_and_the_failed_notebook_from_the_store_and_stores_beside_them,
    test_the_store_killed_mid_run_exits_8_and_keeps_the_complete_local_copy,
)

pytestmark = pytest.mark.stores


def with_containers(server: azure_support.Azurite) -> azure_support.Azurite:
    for container in ("reports", "notebooks"):
        server.client().create_container(container)
    return server


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[azure_support.Azurite]:
    server = with_containers(azure_support.start(tmp_path_factory.mktemp("azurite")))
    yield server
    server.kill()


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[azure_support.Azurite]:
    server = with_containers(azure_support.start(tmp_path / "azurite"))
    yield server
    server.kill()


@pytest.mark.parametrize(
    "output",
    [
        "az://reports/forms/az.ipynb",
        "abfss://reports/forms/abfss.ipynb",
        f"abfs://reports@{azure_support.ACCOUNT}.dfs.core.windows.net/forms/account.ipynb",
    ],
)
def test_every_form_of_the_url_names_the_same_blobs(
    emulated: azure_support.Azurite, notebooks: Path, tmp_path: Path, output: str
) -> None:
    result = run(emulated, tmp_path, "run", str(notebooks / "ok.ipynb"), "-o", output)
    assert result.code == 0, result.stderr
    assert result.record["output"] == output and result.record["storage"]["endpoint"] == emulated.url
    name = output.rsplit("/", 1)[1].removesuffix(".ipynb")
    assert json.loads(emulated.get("reports", f"forms/{name}.run.json"))["run_id"] == result.record["run_id"]
    listed = run(emulated, tmp_path, "runs", output.rsplit("/", 1)[0] + "/", "--json")
    assert listed.code == 0 and result.record["run_id"] in listed.stdout, listed.stderr


def test_no_account_anywhere_is_exit_2_naming_the_forms(notebooks: Path, tmp_path: Path) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": "", "AZURE_STORAGE_ACCOUNT_NAME": ""}
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", "abfs://reports/x/ok.ipynb", env=env)
    assert result.code == 2, result.stderr
    assert "no storage account named; write abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH" in result.stderr


def test_a_refused_account_key_is_exit_8_and_never_printed(
    emulated: azure_support.Azurite, notebooks: Path, tmp_path: Path
) -> None:
    """Azurite answers a wrong key with 403 AuthorizationFailure, which Azure also gives for a firewall or a missing
    role: not definitive before the run (a warning), exit 8 when storing. Azure's own AuthenticationFailed stops the
    run before it starts (not testable here)."""
    wrong = azure_support.KEY[:-8] + "AAAAAAA="
    env = {"AZURE_STORAGE_CONNECTION_STRING": emulated.connection_string().replace(azure_support.KEY, wrong),
           "NBRUNNER_SPOOL": str(tmp_path / "spool")}  # fmt: skip
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", "abfs://reports/refused/ok.ipynb", env=env)
    assert result.code == 8, result.stderr
    assert "could not check container 'reports'" in result.stderr and "access denied" in result.stderr
    kept = Path(result.record["storage"]["local_copy"])
    for text in (result.stderr, result.stdout, *(path.read_text() for path in kept.parent.iterdir())):
        assert wrong not in text and "AccountKey" not in text
