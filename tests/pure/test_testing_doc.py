"""docs/testing.md names real tests: every `file::test` it cites (paths under tests/) exists, so
the map from the protocol's promises to their tests stays true as tests are renamed."""

from __future__ import annotations

import re

from ..support import REPO_ROOT

CITED = re.compile(r"`((?:pure|inprocess|process|testkit|ui)/[\w/]+\.py)::(\w+)`")


def test_every_test_docs_testing_md_cites_exists() -> None:
    doc = (REPO_ROOT / "docs" / "testing.md").read_text()
    cited = CITED.findall(doc)
    assert len(cited) > 100
    missing = [
        f"{path}::{name}" for path, name in cited
        if not re.search(rf"^(async )?def {name}\(", (REPO_ROOT / "tests" / path).read_text(), re.M)
    ]
    assert missing == []
