"""gs:// through google-cloud-storage against fake-gcs-server over HTTP on 127.0.0.1 (tests/gcs_support.py): the
cases every store passes (tests/store_support.py), and GCS's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import gcs_support
from tests.conftest import run_cli
from tests.store_support import (  # noqa: F401 - the shared cases, collected here for gs://
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


def with_buckets(server: gcs_support.GcsServer) -> gcs_support.GcsServer:
    for bucket in ("reports", "notebooks"):
        server.client().create_bucket(bucket)
    return server


@pytest.fixture(scope="module")
def emulated() -> Iterator[gcs_support.GcsServer]:
    server = with_buckets(gcs_support.start())
    yield server
    server.kill()


@pytest.fixture
def lone() -> Iterator[gcs_support.GcsServer]:
    server = with_buckets(gcs_support.start())
    yield server
    server.kill()


def test_the_endpoint_is_recorded_without_its_password(
    emulated: gcs_support.GcsServer, notebooks: Path, tmp_path: Path
) -> None:
    result = run(emulated, tmp_path, "run", str(notebooks / "ok.ipynb"), "-o", "gs://reports/where/ok.ipynb")
    assert result.code == 0, result.stderr
    assert result.record["storage"]["endpoint"] == emulated.url
    assert emulated.secret not in emulated.get("reports", "where/ok.run.json").decode()


def test_no_google_credentials_is_exit_2_before_anything_runs(notebooks: Path, tmp_path: Path) -> None:
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no-such-key.json"), "CLOUDSDK_CONFIG": str(tmp_path)}
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", "gs://reports/x/ok.ipynb", env=env)
    assert result.code == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "gs://: no Google credentials found (File " in line and "no-such-key.json was not found" in line
    assert "set GOOGLE_APPLICATION_CREDENTIALS to a key file" in line
