"""What reaches a page: noise, machine paths and raw MyST fail the chapter; warnings go to a
collapsed build log; wide tables are measured in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers import book, pagecheck, site
from helpers.profiles import ROOT

PLANTED_ROOT = "/srv/planted-machine"


def _stream(text: str, name: str = "stdout"):
    return new_output("stream", name=name, text=text)


def _shown(mime: str, text: str, metadata: dict | None = None):
    return new_output("display_data", data={mime: text}, metadata=metadata or {})


def _notebook(*outputs) -> nbformat.NotebookNode:
    """A clean first code cell, a markdown cell, then one code cell (index 2, In [7]) per output."""
    cells = [new_code_cell("x = 1", execution_count=1, outputs=[_stream("ready\n")]),
             new_markdown_cell("Prose with {ref}`a role <tab-1>` and $x$, which MyST renders.")]
    cells += [new_code_cell("show()", execution_count=7 + i, outputs=[o]) for i, o in enumerate(outputs)]
    return new_notebook(cells=cells)


DEFECTS = {
    "warning on stderr": (_stream("lib.py:3: FutureWarning: `old` is deprecated\n", "stderr"),
                          "output on stderr", "FutureWarning: `old` is deprecated"),
    "warning in text/plain": (_shown("text/plain", "UserWarning: the fit did not converge"),
                              "a warning in the output", "UserWarning: the fit did not converge"),
    "warning of transformers": (_stream("[transformers] `torch_dtype` is deprecated\n"),
                                "a warning in the output", "`torch_dtype` is deprecated"),
    "error output": (new_output("error", ename="ValueError", evalue="bad ratio",
                                traceback=["ValueError: bad ratio"]),
                     "error output", "ValueError: bad ratio"),
    "traceback text": (_stream("Traceback (most recent call last):\n  File x\nKeyError: 1\n"),
                       "a traceback in the output", "Traceback (most recent call last)"),
    "repository path": (_stream(f"saved to {ROOT}/results/scores.json\n"),
                        "a path of the build machine", f"{ROOT}/results/scores.json"),
    "site-packages path": (_shown("text/html", "<td>/opt/env/lib/python3.11/site-packages/x.py</td>"),
                           "a path of the build machine", "site-packages/x.py"),
    "home path": (_shown("text/plain", f"cache: {Path.home()}/.cache/models"),
                  "a path of the build machine", f"{Path.home()}/.cache/models"),
    "tmp path": (_shown("text/markdown", "Wrote `/tmp/pb-1234/out.json`."),
                 "a path of the build machine", "/tmp/pb-1234/out.json"),
    "planted root": (_stream(f"data in {PLANTED_ROOT}/d.csv\n"), "a path of the build machine",
                     f"{PLANTED_ROOT}/d.csv"),
    "{ref} in plain text": (_shown("text/plain", "As {ref}`Table 2.2 <tab-2-2>` shows."),
                            "a MyST role left raw", "{ref}`Table 2.2 <tab-2-2>`"),
    "{glue text": (_shown("text/plain", "Accuracy is {glue:text}`acc:.2f`."),
                   "a MyST role left raw", "{glue:text}`acc:.2f`"),
    "$d$ in plain text": (_shown("text/plain", "The lift $d$ of the label fell."),
                          "$...$ math left raw", "The lift $d$ of the label fell."),
    "$...$ in html": (_shown("text/html", "<p>with <b>$x_i + 1$</b> each</p>"),
                      "$...$ math left raw", "$x_i + 1$"),
    "directive in plain text": (_shown("text/plain", ":::{note}\nSmall samples.\n:::"),
                                "a MyST directive left raw", ":::{note}"),
    "path in the build log": (_shown("text/html", f"<details><pre>{ROOT}/x.py</pre></details>",
                                     {pagecheck.BUILD_LOG: True}),
                              "a path of the build machine", f"{ROOT}/x.py"),
}


@pytest.mark.parametrize("name", DEFECTS)
def test_each_planted_defect_is_flagged_in_its_cell_with_its_text(name):
    output, kind, quoted = DEFECTS[name]
    nb = _notebook(_shown("text/plain", "0.5"), output)  # the defect is in cell 3, In [8]
    problems = pagecheck.check_notebook(nb, roots=[PLANTED_ROOT])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"cell 3 (In [8]): {kind}: "), problems
    assert quoted in problems[0]
    assert pagecheck.check_notebook(_notebook(_shown("text/plain", "0.5"))) == []


def test_markdown_outputs_are_checked_only_where_the_book_does_not_render_them_as_myst(tmp_path):
    raw = _notebook(_shown("text/markdown", "As {ref}`Table 2.2 <tab-2-2>` and $d$ show."))
    assert pagecheck.markdown_renders_myst()  # _config.yml: nb_render_markdown_format: myst
    assert pagecheck.check_notebook(raw) == []
    plain = tmp_path / "_config.yml"
    plain.write_text("sphinx:\n  config:\n    nb_render_markdown_format: commonmark\n")
    assert not pagecheck.markdown_renders_myst(plain)


def test_a_clean_notebook_passes(tmp_path):
    clean = _notebook(
        _stream("it costs $5 and more; between $5 and $10\n"),
        _shown("text/markdown", "Costs $5 and more. **Table 1.** ratio 1/4, a $ sign, 100$."),
        _shown("text/html", '<table><tr><td>$5</td><td>$10</td></tr></table><style>a{}</style>'),
        _shown("text/plain", "{'glue_key': 1, 'cited': 2}"),
        _shown("text/markdown", "See Warning signs in chapter 2; /tmpfile and ~/x are not paths."),
        # glued for {glue:md}, which parses MyST: a role there is fine
        new_output("display_data", data={"application/papermill.record/text/markdown":
                                         "{ref}`Table 1 <tab-1>`"},
                   metadata={"scrapbook": {"name": "k", "mime_prefix":
                                           "application/papermill.record/"}}),
        # the build log shows warnings on purpose, collapsed, with the paths replaced
        _shown("text/html", "<details><pre>&lt;repo&gt;/x.py:3: UserWarning: old</pre></details>",
               {pagecheck.BUILD_LOG: True}),
    )
    assert pagecheck.check_notebook(clean) == []
    path = tmp_path / "clean.ipynb"
    nbformat.write(clean, path)
    assert pagecheck.check_file(path) == []
    clean.cells[3].outputs.append(_stream("Warning: x\n", "stderr"))
    nbformat.write(clean, path)
    assert pagecheck.check_file(path) == ["cell 3 (In [8]): output on stderr: 'Warning: x'"]


def test_paths_are_scrubbed_into_placeholders():
    site_packages = "/opt/env/lib/python3.11/site-packages"
    text = (f"{ROOT}/src/a.py:1 {Path.home()}/b {site_packages}/torch/c.py:2 /tmp/ipykernel_1/3.py "
            f"{PLANTED_ROOT}/d")
    scrubbed = pagecheck.scrub_paths(text, extra=[PLANTED_ROOT])
    assert scrubbed == ("<repo>/src/a.py:1 ~/b <site-packages>/torch/c.py:2 "
                        "<tmp>/ipykernel_1/3.py <path>/d")
    assert pagecheck.check_notebook(_notebook(_stream(scrubbed)), roots=[PLANTED_ROOT]) == []


def test_capture_sends_warnings_and_library_warnings_to_the_log_and_errors_to_stderr(
        monkeypatch, capsys):
    import logging
    import sys
    import warnings

    from helpers import pages

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # all restored after
    monkeypatch.setattr(pages, "_log", {})
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setitem(sys.modules, "transformers", sys.modules[__name__])  # "imported"
    library = logging.getLogger("transformers")
    own = logging.StreamHandler(sys.stderr)  # what transformers installs
    monkeypatch.setattr(library, "handlers", [own])
    monkeypatch.setattr(library, "propagate", False)
    pages.capture_warnings()
    pages.capture_warnings()  # a second setup() adds nothing
    warnings.warn(f"{ROOT}/x.py is old", FutureWarning, stacklevel=1)
    library.warning("`torch_dtype` is deprecated")
    library.error("a genuine error")
    captured = capsys.readouterr()
    assert "a genuine error" in captured.err
    assert "deprecated" not in captured.err and "FutureWarning" not in captured.err
    block = pages.build_log_html(pages._log)
    assert "FutureWarning: &lt;repo&gt;/x.py is old" in block and str(ROOT) not in block
    assert "[transformers] WARNING: `torch_dtype` is deprecated" in block
    assert "genuine" not in block and block.count("<details") == 1
    assert sum(isinstance(h, pages._LogCapture) for h in root.handlers) == 1
    assert pages.build_log_html({}) == ""


# ---- the runner: a chapter whose outputs have a problem fails, nothing is written ------------

NOISY = '''\
# %% tags=["parameters"]
n = 1

# %%
import warnings

warnings.warn("the old API is going away", FutureWarning)

# %%
from IPython.display import Markdown, display

print("See {ref}`Table 1 <tab-1>`.")  # printed: never parsed as MyST

# %%
import logging

from helpers import pages

pages.setup()
warnings.warn("captured by the build log", UserWarning)
logging.getLogger("somelib").warning("a library warning, captured too")
logging.getLogger("somelib").error("a genuine error still surfaces")
'''


def _chapter_source(root: Path, name: str, text: str) -> None:
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    (root / "notebooks" / f"{name}.py").write_text(text)


def test_a_chapter_with_noise_or_raw_myst_fails_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "ROOT", tmp_path)  # the chapter's source and _build/failed
    _chapter_source(tmp_path, "noisy", NOISY)
    out = tmp_path / "out"
    with pytest.raises(book.ChapterFailed) as caught:
        book.execute("noisy", {"n": 2}, out)
    err = caught.value
    assert list(out.iterdir()) == []  # no notebook, no temporary folder
    assert err.notebook_path == tmp_path / "_build" / "failed" / "noisy.ipynb"
    executed = nbformat.read(err.notebook_path, as_version=4)
    code = {c.execution_count: i for i, c in enumerate(executed.cells) if c.cell_type == "code"}
    warned = next(i for i, c in enumerate(executed.cells) if "FutureWarning" in c.source)
    assert code[err.cell] == warned  # the first problem's cell
    assert err.error.startswith("output on stderr: ") and "FutureWarning" in err.error.splitlines()[0]
    listed = err.error.split("\n", 1)[1]
    assert "{ref}`Table 1 <tab-1>`" in listed and "a genuine error still surfaces" in listed
    assert "a path of the build machine" in listed  # the kernel's /tmp/ipykernel_... file
    assert "captured" not in listed  # warnings after pages.setup() went to the build log


# ---- a chapter with the build log, built into a tiny site; its tables measured -------------

CHAPTER = '''\
# %% [markdown]
# # Tables
#
# A chapter with a narrow and a wide table, and library noise.

# %% tags=["parameters"]
rows = 2

# %% tags=["hide-input"]
import logging
import warnings

import numpy as np
import pandas as pd

from helpers import pages

pages.setup()
for _ in range(2):  # one place: Python shows it once
    warnings.warn("the old API is going away", FutureWarning)
logging.getLogger("somelib").warning("a library warning from %s", "somelib")

# %%
pd.DataFrame({"model": ["a", "b"], "accuracy": [0.5, 0.75]}).style.set_caption(
    "Narrow").hide(axis="index")

# %%
wide = pd.DataFrame(np.arange(rows * 20).reshape(rows, 20) * 123456.789012 + 1e9,
                    columns=[f"measurement {i}" for i in range(20)])
wide.style.set_caption("Wide").format("{:,.6f}")

# %%
pages.build_log()
'''


@pytest.fixture(scope="module")
def tables_site(tmp_path_factory):
    """The chapter executed by the runner (so it passed the page check) and built into a site."""
    root = tmp_path_factory.mktemp("tables")
    site_dir = root / "site"
    chapters = site_dir / "book" / "chapters"
    _chapter_source(root, "tables", CHAPTER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(book, "ROOT", root)
        book.execute("tables", {"rows": 3}, chapters)
    shutil.copy(ROOT / "_config.yml", site_dir / "_config.yml")
    shutil.copy(ROOT / "book" / "references.bib", site_dir / "book" / "references.bib")
    (site_dir / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: book/chapters/tables\n")
    (site_dir / "book" / "intro.md").write_text("# Tiny book\n\nNo tables here.\n")
    site.build_html(site_dir, repo_url=None)
    return {"notebook": chapters / "tables.ipynb", "html": site_dir / "_build" / "html"}


def test_build_log_collects_the_warnings_without_paths_and_passes_the_check(tables_site):
    executed = nbformat.read(tables_site["notebook"], as_version=4)
    assert pagecheck.check_notebook(executed) == []
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    logs = [o for o in outputs if o.get("metadata", {}).get(pagecheck.BUILD_LOG)]
    assert len(logs) == 1 and logs[0] is outputs[-1]  # one block, at the end
    block = logs[0]["data"]["text/html"]
    assert block.startswith('<details class="build-log">') and "<summary>Build log: 2 warnings" in block
    assert "FutureWarning: the old API is going away" in block
    assert "[somelib] WARNING: a library warning from somelib" in block
    assert "&lt;tmp&gt;/" in block and "/tmp/" not in block and str(ROOT) not in block


def test_build_log_is_one_collapsed_block_at_the_end_of_the_page(tables_site):
    page = (tables_site["html"] / "book" / "chapters" / "tables.html").read_text()
    article = page.split('<article class="bd-article"')[1].split("</article>")[0]
    blocks = re.findall(r"<details[^>]*build-log[^>]*>", article)
    assert blocks == ['<details class="build-log">']  # no `open`: collapsed
    assert "FutureWarning: the old API is going away" in article
    assert article.index("build-log") > article.index("measurement 19")


@pytest.mark.skipif(pagecheck.find_browser() is None,
                    reason="Chromium is not installed (`make test` installs it where it can: "
                           "apt-get install chromium)")
def test_the_wide_table_is_reported_as_not_fitting_and_the_narrow_one_fits(tables_site):
    rows = pagecheck.table_widths(tables_site["html"], width=1280)
    tables = {r["caption"]: r for r in rows if r["page"] == "book/chapters/tables.html"}
    assert set(tables) == {"Narrow", "Wide"}, rows
    narrow, wide = tables["Narrow"], tables["Wide"]
    assert narrow["fits"] and not wide["fits"], rows
    assert 400 < narrow["column_width"] == wide["column_width"] < 1280
    assert narrow["table_width"] < narrow["column_width"] < wide["table_width"]
    assert not [r for r in rows if r["page"] != "book/chapters/tables.html"]  # intro: no table
