"""Export a notebook to one HTML page that works with no network.

    python -m kit.student.html_export build/two_layer_net.ipynb     # -> build/two_layer_net.html
    python -m kit.student.html_export NOTEBOOK.ipynb --output PAGE.html

nbconvert's HTML page loads require.js and MathJax from a CDN (and, for a
notebook with widget state, the widget manager): offline its formulas stay raw
LaTeX. The page written here needs nothing from outside:

- every formula of the markdown cells (``$...$``, ``$$...$$``, LaTeX
  environments) and every ``text/latex`` output is rendered ahead, to MathML,
  which browsers display natively;
- the CDN scripts are left out (require.js, MathJax, mermaid, the widget
  manager): the kit's explorers carry their own static copy, which needs none;
- images that markdown cells link to are embedded.

Reuse: OfflineHTMLExporter is an nbconvert HTMLExporter (``from_filename``,
``from_notebook_node``); markdown_to_html turns markdown with formulas into an
HTML fragment that needs no script, for pages written by hand.
"""
import argparse
import html
import re
import sys
import warnings
from pathlib import Path

import jinja2
import nbformat
from latex2mathml.converter import convert as _latex2mathml
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor

# The lab template, less every script it would fetch from a CDN.
TEMPLATE_NAME = "offline.html.j2"
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def latex_to_mathml(tex, display="inline"):
    """
    MathML for one formula (a str of HTML).

    A formula that cannot be converted is shown as its LaTeX source in a
    <code class="tex-unrendered"> element, with a warning naming it.
    """
    try:
        return _latex2mathml(tex.strip(), display=display)
    except Exception as e:  # latex2mathml raises many kinds of errors on unknown input
        warnings.warn(f"html_export: formula left as LaTeX ({type(e).__name__}: {e}): {tex!r}",
                      RuntimeWarning, stacklevel=2)
        return f'<code class="tex-unrendered">{html.escape(tex)}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with formulas rendered to MathML instead of left to MathJax."""

    def inline_math(self, body):
        return latex_to_mathml(body, "inline")

    def block_math(self, body):
        return latex_to_mathml(body, "block")

    def latex_environment(self, name, body):
        return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")


def markdown_to_html(source, **renderer_options):
    """Markdown with formulas -> an HTML fragment whose formulas are MathML (no script needed)."""
    renderer = MathMLRenderer(escape=False, **renderer_options)
    return MarkdownWithMath(renderer=renderer).render(source)


_DELIMITERS = re.compile(r"^\s*(\$\$|\$|\\\[|\\\()(.*?)(\$\$|\$|\\\]|\\\))\s*$", re.S)


class LatexOutputsToMathML(Preprocessor):
    """Give every text/latex output (e.g. IPython.display.Math) a text/html MathML twin."""

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/latex" in data and "text/html" not in data:
                tex = data["text/latex"]
                match = _DELIMITERS.match(tex)
                if match:
                    tex = match.group(2)
                data["text/html"] = latex_to_mathml(tex, "block")
        return cell, resources


class OfflineHTMLExporter(HTMLExporter):
    """An HTMLExporter whose pages load nothing from the network and render their formulas."""

    export_from_notebook = "HTML (offline)"

    def __init__(self, **kw):
        kw.setdefault("extra_loaders", [jinja2.DictLoader({TEMPLATE_NAME: TEMPLATE})])
        kw.setdefault("template_file", TEMPLATE_NAME)
        kw.setdefault("embed_images", True)
        super().__init__(**kw)
        self.register_preprocessor(LatexOutputsToMathML(), enabled=True)

    @jinja2.pass_context
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        return markdown_to_html(
            source, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
            path=path, anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)


def export(notebook, output=None):
    """
    Write the offline HTML page of a notebook.

    Inputs:
    - notebook: Path of an .ipynb file (executed, usually).
    - output: Path of the page; default: the notebook's path with .html.

    Returns:
    - The Path of the page written.
    """
    notebook = Path(notebook)
    output = notebook.with_suffix(".html") if output is None else Path(output)
    nb = nbformat.read(notebook, as_version=4)
    resources = {"metadata": {"name": notebook.stem, "path": str(notebook.parent)}}
    body, _ = OfflineHTMLExporter().from_notebook_node(nb, resources=resources)
    output.write_text(body, encoding="utf-8")
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.student.html_export",
        description="Export a notebook to one HTML page that needs no network "
                    "(formulas rendered ahead to MathML, no CDN scripts).")
    parser.add_argument("notebook", type=Path, help="the .ipynb file")
    parser.add_argument("--output", "-o", type=Path, help="the page (default: NOTEBOOK.html)")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        print(f"error: no notebook at {args.notebook}", file=sys.stderr)
        return 1
    print(f"HTML copy: {export(args.notebook, args.output).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
