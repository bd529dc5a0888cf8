"""briefmin.wordiff: the changed words of a near copy, as `git diff --word-diff` writes them."""

from __future__ import annotations

from briefmin.wordiff import MAX_WORDS, RUN_WORDS, Change, changes, summary


def test_a_replacement_an_insertion_and_a_deletion_each_with_the_word_before() -> None:
    old = "Requests time out after 30 seconds and are never retried.\nSee the runbook."
    new = "Requests time out after 60 seconds and are always retried.\nSee the new runbook."
    assert changes(old, new) == ["after [-30-]{+60+}", "are [-never-]{+always+}",
                                 "the {+new+}"]
    assert changes(new, old) == ["after [-60-]{+30+}", "are [-always-]{+never+}",
                                 "the [-new-]"]
    assert changes("Alpha beta gamma.", "beta gamma.") == ["[-Alpha-]"]


def test_white_space_is_no_change_and_a_long_run_is_shown_by_its_start() -> None:
    text = "one two three\nfour five six"
    assert changes(text, "one two\n   three four five six\n") == []
    added = " ".join(f"w{i}" for i in range(RUN_WORDS + 5))
    (change,) = changes(text, text + " " + added)
    assert change.startswith("six {+w0 w1") and change.endswith("…(5 more words)+}")


def test_texts_too_long_to_compare_are_not() -> None:
    long = "word " * (MAX_WORDS + 1)
    assert changes(long, long + "more") is None
    assert summary(None) == "too long to compare"


def test_the_summary_fits_a_line_and_counts_what_it_left_out() -> None:
    assert summary([]) == "same words, other layout"
    found = ["after [-30-]{+60+}", "are [-never-]{+always+}", "the {+new+}"]
    assert summary(found) == "; ".join(found)
    assert summary(found, width=30) == "after [-30-]{+60+} (+2 more)"
    assert summary(["x" * 100], width=20) == "x" * 19 + "…"
    # the count of those left out fits in the width too: a first change cut to the width
    # had ` (+1 more)` after it, past the line
    long = changes("Mode: the deprecated synchronous journal flush before every commit of the "
                   "catalogue. Done. a b", "Mode: asynchronous. Done. a c")
    for width in range(20, 121):
        assert len(summary(long, width)) <= width
    assert summary(long, 60) == "Mode: [-the deprecated…-]{+asynchronous.+} (+1 more)"


def test_a_change_too_long_for_the_line_keeps_both_sides_and_whole_words() -> None:
    """Cut at the width, a long removal hid the words that replaced it, and a word was cut
    in two: `Mode [-the deprecated ... synchronou…` read as a deletion."""
    old = ("Mode: the deprecated synchronous journal flush before every commit of the "
           "catalogue. Done.")
    new = "Mode: asynchronous. Done."
    (change,) = changes(old, new)
    shown = summary([change], width=60)
    assert len(shown) <= 60
    assert shown.startswith("Mode: [-the deprecated") and shown.endswith("…-]{+asynchronous.+}")
    words = set(change.replace("[-", " ").replace("-]{+", " ").split())
    assert all(w in words for w in shown[:-len("…-]{+asynchronous.+}")].replace("[-", " ").split())
    both = summary([Change("ctx", " ".join(["removed"] * 20), " ".join(["added"] * 20))],
                   width=50)
    assert len(both) <= 50 and "[-removed" in both and "{+added" in both
    assert both.endswith("…+}") and "…-]{+" in both
    # a word that ends just at the room is kept whole
    assert summary([Change("ctx", "", "alpha beta gamma")], width=19) == "ctx {+alpha beta…+}"
    # a string not of `changes`' making has no sides to keep: it is cut where the line ends
    assert summary(["ctx {+alpha beta gamma+}"], width=19) == "ctx {+alpha beta g…"


def test_a_change_whose_text_holds_the_brackets_keeps_its_sides_apart() -> None:
    """The summary parsed the written change back into its sides, and a text holding `-]{+`
    of its own could not be split: it was cut as any line and lost the words put in."""
    (bracketed,) = changes("ctx p-]{+q one two three four five six", "ctx z")
    assert bracketed == "ctx [-p-]{+q one two three four five six-]{+z+}"
    assert summary([bracketed], width=25) == "ctx [-p-]{+q one…-]{+z+}"


def test_chinese_letters_are_words_and_are_shown_unspaced() -> None:
    """Chinese is written without spaces: as white-space words, one changed letter made a
    whole clause the change. Each letter is a word, as dedupe's shingles read it."""
    old = "证书轮换之后需要重启负载均衡器才能生效。然后检查日志。"
    new = "证书轮换之后需要重启反向代理才能生效。然后检查日志。"
    assert changes(old, new) == ["启 [-负载均衡器-]{+反向代理+}"]
    assert changes("部署 Docker 服务", "部署 Podman 服务") == ["署 [-Docker-]{+Podman+}"]


def test_one_number_changed_in_a_table_of_numbers_is_one_change() -> None:
    """difflib's autojunk (a word in over 1% of a text of 200 or more words starts no
    match) made one changed number in a 400-word table a 190-word replacement."""
    rows = [" ".join(str((r * 7 + c) % 3) for c in range(8)) for r in range(50)]
    old = "\n".join(rows)
    new = "\n".join([rows[0].replace("0", "9", 1), *rows[1:]])
    assert changes(old, new) == ["[-0-]{+9+}"]
