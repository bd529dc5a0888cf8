"""The selector grammar is applied by bisecting sorted paths (catalogue._selected) instead of
testing every record: it must take exactly what `selects` takes, record by record."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin.store.catalogue import BriefRecord, _selected, selects

NAMES = st.text(alphabet="ab/.-0*", min_size=1, max_size=8)


def record(path: str, sha: str) -> BriefRecord:
    return BriefRecord(path, 1, 1, sha, 1, 1, "", "utf-8", 1)


@settings(max_examples=300, deadline=None)
@given(paths=st.lists(NAMES, min_size=1, max_size=25, unique=True),
       selectors=st.lists(st.one_of(NAMES, st.sampled_from(["a*", "*/b", "[ab]/*", "ab12",
                                                            "a/", "a", "b/a"])),
                          min_size=1, max_size=6),
       data=st.data())
def test_bisecting_takes_what_the_grammar_takes(paths: list[str], selectors: list[str],
                                                data: st.DataObject) -> None:
    shas = data.draw(st.lists(st.sampled_from(["ab12cd", "ab1200", "ffff00"]),
                              min_size=len(paths), max_size=len(paths)))
    records = sorted((record(p, s) for p, s in zip(paths, shas, strict=True)),
                     key=lambda r: r.path)
    sorted_paths = [r.path for r in records]
    # paths archived at other versions only (or outside the snapshot): not among the rows
    # chosen from, yet archived names
    elsewhere = data.draw(st.lists(NAMES, max_size=3))
    archived = sorted({*sorted_paths, *elsewhere})
    for selector in [*selectors, *paths[:3], *elsewhere]:
        # an archived path or folder takes itself (and what lies under it) only, never
        # other briefs its glob characters or hex digits would match
        folder = selector.rstrip("/") + "/"
        literal = selector in archived or any(p.startswith(folder) for p in archived)
        expected = [r for r in records if selects(selector, r.path, r.sha256) and (
            not literal or r.path == selector or r.path.startswith(selector.rstrip("/") + "/"))]
        got = _selected(selector, sorted_paths, [r.sha256 for r in records], archived)
        assert [records[k] for k in got] == expected, selector
