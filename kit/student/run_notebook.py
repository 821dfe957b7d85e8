"""`make run`: execute a notebook headless, keep a copy and its HTML page, say in a few lines how it went.

    python -m kit.student.run_notebook notebooks/two_layer_net.ipynb --out build

The notebook runs in its own folder, top to bottom, and stops at the first
cell that fails, as it would in Jupyter. Whatever happens, the executed copy
(build/NAME.ipynb) and its offline HTML page (build/NAME.html) are written:
when a cell failed, a note at the top of the copy and one right before the
failed cell say which check stopped the run and why. The terminal gets a
short paragraph, not a traceback: the check's title, the error's message,
where in your files it was raised, and the paths written. Your notebook file
is never changed.

Exit status: 0 when the notebook ran, whether or not a check failed (a check
that fails is what the notebook is for until the code is written); 1 when it
could not run at all (no such notebook, a kernel that does not start).
"""
import argparse
import subprocess
import sys
from pathlib import Path

import nbformat

from kit.student.notebooks import CHECK_PREFIX, cell_label
from kit.student.tracebacks import clean, location

NOTE_TAG = "run-note"


def _failed_cell(nb):
    """(index, code cell number, cell, error output) of the cell that stopped the run, or None."""
    number = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        number += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, number, cell, out
    return None


def describe(cell, number):
    """"the check 'toy scores'" or "code cell 12 ('from cs231n.data_utils import ...')"."""
    label = cell_label(cell.source, number)
    return f"the check '{label}'" if cell.source.strip().startswith(CHECK_PREFIX) else label


def mark_failure(nb, index, what, message):
    """Add the notes of a stopped run to the executed copy: one at the top, one before the failed cell."""
    note = nbformat.v4.new_markdown_cell(
        f"**This run stopped at {what}:** `{message}`\n\nThe cells after it did not run. "
        f"[Go to the failed cell](#kit-stopped-here).")
    here = nbformat.v4.new_markdown_cell(
        f'<a id="kit-stopped-here"></a>**The run stopped at the next cell** ({what}): `{message}`')
    for cell in (note, here):
        cell.metadata["tags"] = [NOTE_TAG]
    nb.cells.insert(index, here)
    nb.cells.insert(0, note)


def run(notebook, out_dir, timeout=1800):
    """
    Execute `notebook` in its folder; write out_dir/NAME.ipynb and out_dir/NAME.html.

    Returns:
    - (lines to print, whether a cell failed).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from kit.student.html_export import export

    notebook, out_dir = Path(notebook), Path(out_dir)
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(notebook.parent.resolve())}})
    try:
        client.execute(stderr=subprocess.DEVNULL)   # the kernel's own log lines are not the student's business
    except CellExecutionError:
        pass
    failed = _failed_cell(nb)
    lines = []
    if failed is None:
        lines.append(f"{notebook.name}: every cell ran, every check passed.")
    else:
        index, number, cell, error = failed
        what = describe(cell, number)
        message = f"{error.get('ename')}: {clean(error.get('evalue'))}"
        raised = location("\n".join(error.get("traceback") or []))
        lines.append(f"{notebook.name} stopped at {what}:")
        lines.append(f"    {message}" + (f" (raised in {raised})" if raised else ""))
        lines.append("The cells before it ran; the ones after it did not. Fix this, then run the notebook again "
                     "(or `make run`).")
        mark_failure(nb, index, what, message)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    nbformat.write(nb, executed)
    page = export(executed)
    lines.append(f"Executed notebook: {executed}")
    lines.append(f"HTML copy:         {page.resolve()}")
    return lines, failed is not None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.student.run_notebook", description=__doc__.split("\n")[0])
    parser.add_argument("notebook", type=Path, help="the notebook to run, e.g. notebooks/two_layer_net.ipynb")
    parser.add_argument("--out", type=Path, default=Path("build"), help="folder of the copy and page (default build)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per cell (default 1800)")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        print(f"error: no notebook at {args.notebook}", file=sys.stderr)
        return 1
    try:
        lines, _ = run(args.notebook, args.out, args.timeout)
    except Exception as err:  # noqa: BLE001 - the kernel or the export failed: say so in one line
        print(f"error: {args.notebook} could not be run: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
