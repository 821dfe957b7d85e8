"""Take the grading machine's paths out of what a student is shown.

Tracebacks from a sandbox name files where the grading machine keeps them:
the Python installation (`/home/ta/course/.venv/lib/python3.11/site-packages/
numpy/...`), the kit mounted at `/kit`, the grader's private run folders. A
student needs the file, not where it lives on someone else's machine, and the
instructor's folder layout is nobody else's business. `scrub` rewrites them:

    /home/ta/course/.venv/lib/python3.11/site-packages/numpy/x.py -> <site-packages>/numpy/x.py
    /usr/lib/python3.11/json/decoder.py                           -> <python>/json/decoder.py
    /kit/cs231n/layers.py                                         -> cs231n/layers.py
    /tmp/kit-grade-run-123-abc/alice-x/view/cs231n/layers.py      -> <grader>/cs231n/layers.py

Only text a student reads goes through it (results.json's output and test
outputs, feedback.md, the executed notebooks); the instructor's records
(grades.csv, extra_data) keep what they say.
"""
import os
import re
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parents[3]
_KIT_MOUNT = re.compile(r"(?<![\w.+/=<>~-])/kit/(?=[\w.])")
_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


@lru_cache(maxsize=1)
def _replacements():
    """[(compiled prefix, replacement)], longest prefix first."""
    pairs = {}

    def add(path, name):
        if not path:
            return
        for form in {str(path), os.path.realpath(path)}:
            form = form.rstrip("/")
            if len(form) > 1:
                pairs.setdefault(form, name)

    paths = sysconfig.get_paths()
    for key in ("purelib", "platlib"):
        add(paths.get(key), "<site-packages>")
    for base in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        for key in ("purelib", "platlib"):
            add(sysconfig.get_paths(vars={"base": base, "platbase": base}).get(key), "<site-packages>")
    for key in ("stdlib", "platstdlib"):
        add(paths.get(key), "<python>")
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        add(prefix, "<python>")
    add(str(KIT_ROOT), "<grader>")
    add(os.path.expanduser("~"), "~")
    ordered = sorted(pairs.items(), key=lambda item: -len(item[0]))
    return [(re.compile(re.escape(prefix) + r"(?=/|\b)"), name) for prefix, name in ordered]


_RUN = re.escape(tempfile.gettempdir().rstrip("/")) + r"/kit-grade-run-[^/\s\"']+"
_RUN_FOLDER = [re.compile(_RUN + r"/[^/\s\"']+/view(?=/)"), re.compile(_RUN)]


def scrub(text):
    """`text` without the grading machine's paths (see the module docstring)."""
    if not isinstance(text, str) or "/" not in text:
        return text
    for pattern in _RUN_FOLDER:
        text = pattern.sub("<grader>", text)
    for pattern, name in _replacements():
        text = pattern.sub(name, text)
    return _KIT_MOUNT.sub("", text)


def scrub_outputs(notebook):
    """Scrub the text outputs of an executed notebook (a JSON dict), in place; images are left alone."""
    for cell in notebook.get("cells", []) if isinstance(notebook, dict) else []:
        for out in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if not isinstance(out, dict):
                continue
            for key in ("text", "evalue"):
                if key in out:
                    out[key] = _scrub_value(out[key])
            if "traceback" in out:
                out["traceback"] = _scrub_value(out["traceback"])
            data = out.get("data")
            if isinstance(data, dict):
                for mime, value in data.items():
                    if mime not in _IMAGES:
                        data[mime] = _scrub_value(value)
    return notebook


def _scrub_value(value):
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_value(v) for v in value]
    return value
