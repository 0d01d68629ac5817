"""MkDocs hooks (`hooks:` in mkdocs.yml): what the site generates from the code and the
measured figures at every build.

* `<!-- configuration -->` in a page becomes the configuration reference
  (`docsite.configuration`);
* `<!-- openapi: NAME -->` becomes the OpenAPI document of service NAME rendered as
  Markdown, and the document itself is published beside the page as `NAME-openapi.json`
  (`docsite.openapi`);
* `figures/NAME.svg` is drawn from `docs/figures/NAME.json` (`docsite.charts`), and
  `<!-- chart: NAME -->` becomes that chart with the command and the load it was
  measured under.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:  # mkdocs loads this file by path, not as a package
    sys.path.insert(0, str(REPOSITORY))

from docsite import charts, configuration, openapi  # noqa: E402

_OPENAPI = re.compile(r"<!-- openapi: (\w+) -->")
_CHART = re.compile(r"<!-- chart: (\w+) -->")
_documents: dict[str, dict[str, Any]] = {}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for name, make in openapi.DOCUMENTS.items():
        _documents[name] = make()
        files.append(
            File.generated(
                config,
                f"api/{name}-openapi.json",
                content=json.dumps(_documents[name], indent=2) + "\n",
            )
        )
    for name, drawn in charts.charts(Path(config.docs_dir) / "figures").items():
        files.append(File.generated(config, f"figures/{name}", content=drawn))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    markdown = markdown.replace("<!-- configuration -->", configuration.markdown())

    def rendered(match: re.Match[str]) -> str:
        name = match.group(1)
        return openapi.markdown(_documents[name], f"{name}-openapi.json")

    def chart(match: re.Match[str]) -> str:
        text = charts.figure_markdown(Path(config.docs_dir) / "figures", match.group(1))
        # Links in a page are relative to it; the charts are under the site's root.
        return text.replace("](figures/", "](" + "../" * page.file.src_uri.count("/") + "figures/")

    return _CHART.sub(chart, _OPENAPI.sub(rendered, markdown))
