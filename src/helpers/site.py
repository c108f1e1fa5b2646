"""The published site: repository buttons, Colab/Binder notebooks, offline MathJax, the build.

One setting names the repository: BOOK_REPO_URL (a public https URL on github.com or gitlab.com;
`none` turns it off), else the git remote `origin` when it is such a URL. Without it the site
shows no repository, issue, Binder or Colab button. With it, `build_html` writes a copy of
_config.yml into _build/config/ that adds the repository and issue buttons, and the Binder and
Colab buttons too when the launch notebooks are present and current.

Launch notebooks: Colab and Binder open a notebook from the repository at
`<path_to_book>/<page>.ipynb`, and the chapter pages are book/chapters/NN.ipynb, which are build
outputs and not committed. `write_launch_notebooks` therefore writes, from the jupytext sources,
notebooks/ipynb/book/chapters/NN.ipynb (to be committed) whose first cell installs the book's
code, and the generated config sets `path_to_book: notebooks/ipynb`.

This module is also the book's Sphinx extension (listed in _config.yml), so that every build,
even a plain `jupyter-book build .`, serves MathJax 3 from `_static/mathjax` (the copy the
django-static-mathjax package ships; SVG output, which needs no web fonts, so formulas typeset
offline and from file://), has book/generated/findings.md for the intro to include, and styles
the computed tables (padding; wide ones scroll sideways).
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from . import progress as prog
from .chapters import NAMES as NOTEBOOKS
from .profiles import ROOT

REPO_ENV = "BOOK_REPO_URL"
BRANCH_ENV = "BOOK_REPO_BRANCH"
LAUNCH_DIR = "notebooks/ipynb"  # path_to_book of the launch buttons, relative to the repository
BINDER_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"
_PUBLIC_REPO = re.compile(r"^https://(github\.com|gitlab\.com)/[\w.-]+/[\w.-]+?(\.git)?/?$")


def _normalise(url: str) -> str | None:
    url = url.strip()
    if not _PUBLIC_REPO.match(url) or urlparse(url).username:
        return None
    return re.sub(r"(\.git)?/?$", "", url)


def repository_url(explicit: str | None = None) -> str | None:
    """The repository the buttons link to: `explicit`, else $BOOK_REPO_URL, else git's origin."""
    given = explicit if explicit is not None else os.environ.get(REPO_ENV)
    if given is not None and given.strip().lower() in ("", "none", "off"):
        return None
    if given is not None:
        url = _normalise(given)
        if url is None:
            raise ValueError(f"repository URL {given!r} is not a public https URL such as "
                             "https://github.com/OWNER/NAME (or gitlab.com); set BOOK_REPO_URL to one, "
                             "or to 'none' for a site without repository buttons")
        return url
    try:
        origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return _normalise(origin.stdout) if origin.returncode == 0 else None


def repository_branch() -> str:
    """The branch links use: $BOOK_REPO_BRANCH, else the checked-out branch, else `main`."""
    if os.environ.get(BRANCH_ENV):
        return os.environ[BRANCH_ENV]
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "symbolic-ref", "--short", "-q", "HEAD"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "main"
    return head.stdout.strip() or "main"


def site_config(repo_url: str | None, branch: str = "main", launch: bool = False,
                base: str | os.PathLike = ROOT / "_config.yml") -> dict[str, Any]:
    """_config.yml with the repository settings: buttons only for a known repository."""
    config = yaml.safe_load(Path(base).read_text())
    html = config.setdefault("html", {})
    buttons = config.setdefault("launch_buttons", {})
    html["use_repository_button"] = html["use_issues_button"] = bool(repo_url)
    html["use_edit_page_button"] = False  # pages are built from executed notebooks, not sources
    config["repository"] = {"url": repo_url or "", "branch": branch,
                            "path_to_book": LAUNCH_DIR if repo_url and launch else ""}
    buttons["binderhub_url"] = BINDER_URL if repo_url and launch else ""
    on_github = bool(repo_url) and urlparse(repo_url).hostname == "github.com"
    buttons["colab_url"] = COLAB_URL if launch and on_github else ""  # Colab opens GitHub only
    return config


def write_site_config(config: dict[str, Any], path: str | os.PathLike = ROOT / "_build" / "config"
                      / "_config.yml") -> Path:
    """Write a generated configuration (atomically) for `jupyter-book build --config`."""
    from .pages import write_text_atomic

    path = Path(path)
    header = "# Generated by `python -m helpers.book html` from _config.yml; do not edit.\n"
    write_text_atomic(path, header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def offline_assets(makefile: str | os.PathLike = ROOT / "Makefile") -> list[str]:
    """The pinned offline model and data packages, read from the Makefile's OFFLINE_ASSETS."""
    text = Path(makefile).read_text()
    match = re.search(r"^OFFLINE_ASSETS\s*:=(.*?)(?<!\\)\n", text, flags=re.M | re.S)
    if not match:
        raise ValueError(f"{makefile} has no OFFLINE_ASSETS := ... line")
    return match.group(1).replace("\\\n", " ").split()


_SETUP = '''\
# Setup for Colab and Binder: the book's code, its packages and the offline models and data.
# Where the repository is already here (Binder, a clone) only the missing packages install.
# The chapter then runs from the repository's root folder, as `make book` runs it.
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY, BRANCH = {url!r}, {branch!r}
OFFLINE_ASSETS = [
{assets}
]
here = Path.cwd()
root = next((p for p in (here, *here.parents) if (p / "src" / "helpers").is_dir()), None)
if root is None:
    root = Path({folder!r}).resolve()
    if not root.exists():
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", BRANCH, REPOSITORY,
                        str(root)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(root)], check=True)
subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *OFFLINE_ASSETS],
               check=True)
os.chdir(root)
sys.path[:0] = [str(root / "src"), str(root)]'''


def launch_notebook(notebook: str, repo_url: str, branch: str) -> Any:
    """The Colab/Binder copy of a chapter: a setup cell, then the chapter's cells, no outputs."""
    import jupytext
    import nbformat

    source = ROOT / "notebooks" / f"{notebook}.py"
    chapter = jupytext.read(source)
    folder = urlparse(repo_url).path.rstrip("/").split("/")[-1]
    setup = nbformat.v4.new_code_cell(
        _SETUP.format(url=repo_url, branch=branch, folder=folder,
                      assets="\n".join(f"    {a!r}," for a in offline_assets())),
        metadata={"tags": ["launch-setup"]})
    nb = nbformat.v4.new_notebook(cells=[setup, *chapter.cells])
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "pruning_book": {"source": f"notebooks/{notebook}.py", "repository": repo_url,
                         "branch": branch},
    }
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids keep regenerated notebooks byte-identical
        cell.metadata.pop("lines_to_next_cell", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def launch_path(notebook: str, root: str | os.PathLike = ROOT) -> Path:
    """Where the launch copy of a chapter lives: the chapter page's path under LAUNCH_DIR."""
    return Path(root) / LAUNCH_DIR / "book" / "chapters" / f"{notebook}.ipynb"


def _launch_text(notebook: str, repo_url: str, branch: str) -> str:
    import nbformat

    return nbformat.writes(launch_notebook(notebook, repo_url, branch)) + "\n"


def write_launch_notebooks(repo_url: str | None, branch: str, root: str | os.PathLike = ROOT) -> list[Path]:
    """Write the launch copies of every chapter (commit them: Colab reads them from the repository)."""
    from .pages import write_text_atomic

    if not repo_url:
        raise ValueError("no repository URL: the launch notebooks clone the repository, so set "
                         f"{REPO_ENV}=https://github.com/OWNER/NAME (or add a git remote 'origin')")
    written = []
    for nb in NOTEBOOKS:
        write_text_atomic(launch_path(nb, root), _launch_text(nb, repo_url, branch))
        written.append(launch_path(nb, root))
    print(f"[book] wrote {len(written)} launch notebooks under {LAUNCH_DIR}/ for {repo_url} "
          f"({branch}); commit them so that Colab and Binder find them")
    return written


def stale_launch_notebooks(repo_url: str, branch: str, root: str | os.PathLike = ROOT) -> list[str]:
    """The chapters whose launch copy is missing or differs from what the sources give now."""
    stale = []
    for nb in NOTEBOOKS:
        path = launch_path(nb, root)
        if not path.is_file() or path.read_text() != _launch_text(nb, repo_url, branch):
            stale.append(nb)
    return stale


def missing_pages(source: str | os.PathLike = ROOT) -> list[str]:
    """The pages _toc.yml lists that do not exist (as .md or .ipynb) under `source`."""
    toc = yaml.safe_load((Path(source) / "_toc.yml").read_text())
    files, todo = [], [toc]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            files += [node[k] for k in ("root", "file") if k in node]
            todo += [v for v in node.values() if isinstance(v, list | dict)]
        elif isinstance(node, list):
            todo += node
    return sorted(str(f) for f in files
                  if not any((Path(source) / f"{f}{ext}").is_file() for ext in ("", ".md", ".ipynb")))


def failure_banner(source: str | os.PathLike = ROOT) -> str:
    """The banner every page shows when chapters failed in the last run (empty when none did)."""
    from .pages import GENERATED_DIR, load_failures

    failures = load_failures(Path(source) / GENERATED_DIR)
    if not failures:
        return ""
    parts = [f"<strong>{html.escape(nb)}</strong> failed (cell {f['cell']}); re-run it with "
             f"<code>{html.escape(f['rerun'])}</code>" for nb, f in sorted(failures.items())]
    return "This build is incomplete: " + "; ".join(parts) + "."


_PROGRESS = re.compile(r"^(?P<phase>[\w ]+?)\.\.\.\s*\[\s*(?P<pct>\d+)%\]\s*(?P<item>\S*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROBLEM = re.compile(r"WARNING|ERROR|CRITICAL|Traceback|Exception")


def build_html(source: str | os.PathLike = ROOT, *, repo_url: str | None, branch: str = "main",
               strict: bool = True) -> Path:
    """Build the HTML with jupyter-book (warnings are errors), showing one progress line."""
    source = Path(source).resolve()
    missing = missing_pages(source)
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found; execute the chapters first "
                         "(`make book`, or `make chapter NB=...` for one)")
    launch = bool(repo_url) and not stale_launch_notebooks(repo_url, branch)
    line = prog.StatusLine()
    if repo_url and not launch:
        line.print(f"[book] Binder/Colab buttons off: the launch notebooks in {LAUNCH_DIR}/ are "
                   "missing or out of date (run `make notebooks` and commit them)")
    build = source / "_build"
    config = site_config(repo_url, branch, launch, source / "_config.yml")
    failed = failure_banner(source)
    if failed:
        config.setdefault("html", {})["announcement"] = failed
        line.print("[book] " + re.sub(r"<[^>]+>", "", failed))
    config = write_site_config(config, build / "config" / "_config.yml")
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source),
               "--config", str(config)] + (["-W", "-n", "--keep-going"] if strict else [])
    log_path = build / "jupyter-book.log"
    start = time.monotonic()
    phase = "starting"
    with open(log_path, "w") as log, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        for raw in proc.stdout:
            log.write(raw)
            text = _ANSI.sub("", raw).rstrip()
            if _PROBLEM.search(text):
                line.print(text)
            elif match := _PROGRESS.match(text):
                phase = f"{match['phase']} {match['pct']:>3}% {match['item']}"
            elif text.endswith("...") or text.startswith(("build succeeded", "build finished")):
                phase = text
            line.update(f"[book] html: {phase}  {prog.clock(time.monotonic() - start)}")
    took = prog.clock(time.monotonic() - start)
    if proc.returncode != 0:
        line.print(f"[book] the HTML build failed after {took}; the full log is {log_path}")
        raise SystemExit(proc.returncode)
    index = build / "html" / "index.html"
    buttons = ("repository, issues" + (", Binder, Colab" if launch else "")) if repo_url else "none"
    line.print(f"[book] HTML built in {took}: {index} (buttons: {buttons})")
    return index


# ---- Sphinx extension --------------------------------------------------------------------------

MATHJAX_COMPONENT = "tex-svg.js"  # TeX input, SVG output; menu and assistive MathML included
MATHJAX_DIR = "mathjax"  # under _static
_MATHJAX_UNUSED = {"node-main.js", "latest.js", "core.js", "loader.js", "startup.js"}


def mathjax_source() -> Path:
    """The es5 folder of the MathJax 3 distribution installed with django-static-mathjax."""
    spec = importlib.util.find_spec("mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" / "es5" if spec and spec.origin else None
    if folder is None or not (folder / MATHJAX_COMPONENT).is_file():
        raise RuntimeError("MathJax is missing: install it with `.venv/bin/python -m pip install "
                           "django-static-mathjax==3.2.2.1` (in the `book` extra: `make setup`)")
    return folder


def _use_local_mathjax(app: Any, config: Any) -> None:
    mathjax_source()  # fail before a long build, not after it
    config.mathjax_path = f"{MATHJAX_DIR}/{MATHJAX_COMPONENT}"  # relative to _static
    options = dict(config.mathjax3_config or {})
    options.setdefault("svg", {"fontCache": "global"})
    config.mathjax3_config = options


def _write_findings(app: Any, config: Any) -> None:
    from .pages import GENERATED_DIR, build_info, write_findings_page, write_text_atomic
    from .plan import write_gpu_page

    folder = Path(app.srcdir) / GENERATED_DIR
    write_findings_page(folder)
    write_gpu_page(folder)  # the GPU page's tables, from `make plan` (no model is loaded)
    url = (getattr(config, "html_theme_options", None) or {}).get("repository_url") or None
    text = build_info(ROOT, url)  # the code the chapters ran, wherever the pages are built
    target = folder / BUILD_INFO
    if not target.exists() or target.read_text() != text:
        write_text_atomic(target, text)


BUILD_INFO = "build.md"  # book/generated/: the repository and commit of this build


def _ignore_unused(folder: str, names: list[str]) -> set[str]:
    if Path(folder).name == "es5":
        return {n for n in names if n.endswith(".js") and n != MATHJAX_COMPONENT} | _MATHJAX_UNUSED
    return set()


# Tables the chapters compute: scroll sideways when wider than the text column, and breathe.
CSS_FILE = "pruning-book.css"
CSS = """\
div.cell_output table { display: block; width: fit-content; max-width: 100%; overflow-x: auto; }
div.cell_output table th, div.cell_output table td { padding: 0.3em 0.75em; }
div.cell_output table caption { caption-side: top; text-align: left; font-weight: 600; }
"""


def _copy_assets(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    (Path(app.outdir) / "_static").mkdir(parents=True, exist_ok=True)
    (Path(app.outdir) / "_static" / CSS_FILE).write_text(CSS)
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / MATHJAX_DIR
    shutil.copytree(source, target, ignore=_ignore_unused, dirs_exist_ok=True)
    if (source.parent / "LICENSE").is_file():
        shutil.copy2(source.parent / "LICENSE", target / "LICENSE")


def setup(app: Any) -> dict[str, Any]:
    """Register the book's Sphinx extension."""
    app.connect("config-inited", _use_local_mathjax)
    app.connect("config-inited", _write_findings)
    app.add_css_file(CSS_FILE)
    app.connect("build-finished", _copy_assets)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
