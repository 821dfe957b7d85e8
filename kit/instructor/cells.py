"""Read notebook cells defensively: submitted notebooks are untrusted JSON.

A student's notebook may hold anything that parses as JSON (`"metadata": null`,
a source that is a number, cells that are not objects). These helpers turn
whatever is there into plain cells, so that no field of a submission can
crash the grader.
"""
MAX_SOURCE = 1_000_000


def cell_tags(cell):
    """The set of string tags of a cell (empty when metadata or tags are missing or malformed)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return {t for t in tags if isinstance(t, str)} if isinstance(tags, list) else set()


def cell_source(cell):
    """The source of a cell as one string (joined when stored as a list of lines)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source[:MAX_SOURCE] if isinstance(source, str) else ""


def cell_metadata(cell):
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    return meta if isinstance(meta, dict) else {}


def plain_cells(nb):
    """
    The cells of a notebook (parsed JSON of any shape) as plain dicts.

    Returns:
    - A list of {"cell_type", "source", "metadata", "tags", "id"}; entries that
      are not objects are dropped, malformed fields become empty ones.
    """
    cells = nb.get("cells") if isinstance(nb, dict) else None
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        cid = cell.get("id")
        out.append({"cell_type": kind if isinstance(kind, str) else "", "source": cell_source(cell),
                    "metadata": cell_metadata(cell), "tags": cell_tags(cell),
                    "id": cid if isinstance(cid, str) else None})
    return out
