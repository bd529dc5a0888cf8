"""encoder.py: the hashing encoder's one-window shortcut chunks exactly as the general path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin.encoder import HashingEncoder, chunk_spans, encode_briefs, word_spans

ENCODER = HashingEncoder("hashing:384")
# words, punctuation and every kind of space, including the unicode ones str.strip removes
PIECES = st.sampled_from(["word", "Ünïcode", "x_1", "42", ".", "—", "!?", " ", "\t", "\n",
                          "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f", "\x85", "\u200b"])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=600) | st.text(max_size=400))
def test_chunks_equal_the_general_path(pieces: list[str] | str) -> None:
    text = pieces if isinstance(pieces, str) else "".join(pieces)
    assert ENCODER.chunks(text) == chunk_spans(word_spans(text), ENCODER.max_tokens)


def test_long_text_is_several_windows() -> None:
    text = " ".join(f"w{i}." for i in range(400))  # 800 tokens: more than one window
    spans = ENCODER.chunks(text)
    assert len(spans) > 1
    assert spans == chunk_spans(word_spans(text), ENCODER.max_tokens)
    assert [b.spans for b in encode_briefs(ENCODER, [text, "  short one  "])] == [
        spans, [(2, 11)]]
