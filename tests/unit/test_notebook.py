"""document.dump: the same text as nbformat.writes, streamed, for texts that cross its megabyte chunks."""

from __future__ import annotations

import io

import nbformat
from nbformat import v4

from nbrunner.notebook import document


def test_dump_matches_nbformat_for_long_texts_with_every_line_break() -> None:
    piece = "line\r\nnext\rcr\x0bvt\u2028ls\x85nel é\n"
    big = piece * (3 * (1 << 20) // len(piece)) + "x" * 70 + "\r" + "\n" + "tail without newline"
    nb = v4.new_notebook(cells=[
        v4.new_code_cell(big, outputs=[
            v4.new_output("stream", text=big),
            v4.new_output("display_data", data={"text/plain": big, "image/svg+xml": "<svg>\n</svg>\n",
                                                "application/json": {"a": [1, 2.5, None]}}),
            v4.new_output("error", ename="E", evalue="v", traceback=["a", "b"]),
        ]),
        v4.new_markdown_cell("", attachments={"x.png": {"image/png": "iVBO\n"}}),
        v4.new_raw_cell("raw\n"),
    ])  # fmt: skip
    nb.metadata["orig_nbformat"] = 3  # transient: never written
    buffer = io.StringIO()
    document.dump(nb, buffer)
    assert buffer.getvalue() == nbformat.writes(nb)


def test_the_validity_check_agrees_with_nbformats_own_without_copying_the_notebook() -> None:
    """document.is_valid gives nbformat.validator.isvalid's verdict (which deep-copies the whole notebook first)."""
    import copy

    import nbformat
    from nbformat import validator

    from nbrunner.notebook.document import is_valid

    def nb(**change: object) -> object:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_markdown_cell("m")])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for key, value in change.items():
            if key == "ids":
                for cell, cid in zip(notebook.cells, value, strict=True):  # type: ignore[call-overload]
                    cell["id"] = cid
            elif key == "kernelspec":
                notebook.metadata["kernelspec"] = value
            elif key == "source":
                notebook.cells[0]["source"] = value
            elif key == "minor":
                notebook.nbformat_minor = value
                if value < 5:
                    for cell in notebook.cells:
                        del cell["id"]
        return notebook

    cases = [nb(), nb(ids=["a", "a"]), nb(ids=["a", "b"]), nb(kernelspec={"language": "python"}),
             nb(kernelspec="python3"), nb(source=3), nb(minor=4), nb(ids=["bad id!", "b"])]  # fmt: skip
    for case in cases:
        before = copy.deepcopy(case)
        assert is_valid(case) == validator.isvalid(case), case
        assert case == before
    assert [is_valid(case) for case in cases] == [True, False, True, False, False, False, True, False]
