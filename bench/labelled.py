"""A labelled set for dedupe, built from data we have: pairs of documents with what they are.

- `near-identical`: a Debian description or kernel-doc excerpt and a copy with small edits
  (a few words changed, a sentence dropped, a sentence added, paragraphs re-wrapped plus one
  word, a title changed), each copy made by one seeded edit;
- `paraphrase`: the same original rewritten without a model or a hub: sentences reordered,
  synonyms and abbreviations swapped in, parenthesised asides and trailing clauses dropped;
- `distinct`: two different documents on one topic: two kernel docs of one subsystem folder
  (their first EXCERPT characters), and Debian siblings (`X`/`X-dev`/`X-doc`/`libX`...) whose
  descriptions share no sentence.

Every original belongs to the `train` or the `heldout` half by a seeded hash of its name
(SPLIT_SALT), fixed before any threshold was chosen. Threshold choices read `train` only
(`choose_jaccard`); bench_dedupe.py reports on `heldout` only.

`build_long` makes the long-document set (whole documents of several chunks: the `similar`
kind's chunk check, `briefmin.chunkmatch`) the same way, split by the same hash; `choose_coverage`
reads its train half only.

    .venv/bin/python bench/labelled.py [--split train] [--data bench/data]   # prints a summary
    .venv/bin/python bench/labelled.py --long [--split train]   # the long-document set
"""

from __future__ import annotations

import difflib
import hashlib
import random
import re
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLIT_SALT = "briefmin-dedupe-labelled-2026-12"
EXCERPT = 3000  # characters of a kernel doc taken (whole paragraphs): encoding stays minutes
MIN_WORDS = 40  # originals shorter than this are left out: "a few words" would be a rewrite
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
WORDS = re.compile(r"[A-Za-z]{4,}")

# synonym and abbreviation swaps for paraphrases (applied to whole words, case kept)
SWAPS = {
    "provides": "offers", "provide": "offer", "contains": "includes", "contain": "include",
    "package": "bundle", "packages": "bundles", "library": "lib", "libraries": "libs",
    "application": "app", "applications": "apps", "documentation": "docs",
    "information": "info", "configuration": "config", "development": "dev",
    "program": "tool", "programs": "tools", "utility": "tool", "utilities": "tools",
    "allows": "lets", "allow": "let", "enables": "lets", "supports": "handles",
    "support": "handling", "features": "capabilities", "feature": "capability",
    "simple": "basic", "small": "tiny", "large": "big", "fast": "quick",
    "different": "various", "several": "multiple", "many": "numerous", "also": "additionally",
    "user": "person", "users": "people", "using": "with", "used": "employed",
    "use": "employ", "files": "documents", "file": "document", "directory": "folder",
    "directories": "folders", "however": "but", "therefore": "so", "which": "that",
    "written": "implemented", "useful": "handy", "create": "make", "creates": "makes",
    "display": "show", "displays": "shows", "should": "ought to", "kernel": "OS core",
    "device": "gadget", "devices": "gadgets", "driver": "module", "drivers": "modules",
    "function": "routine", "functions": "routines", "example": "sample", "memory": "RAM",
    "system": "platform", "systems": "platforms", "data": "content", "network": "net",
    "interface": "API", "version": "release", "versions": "releases",
}


@dataclass(frozen=True)
class Pair:
    a: str  # document names (keys of LabelledSet.docs); a is the original / older one
    b: str
    label: str  # near-identical | paraphrase | distinct
    how: str  # which edit, or which kind of distinct pair
    source: str  # debian | kernel


@dataclass
class LabelledSet:
    split: str
    docs: dict[str, str]  # name -> text; originals first, so they are archived first
    pairs: list[Pair]

    def of(self, label: str) -> list[Pair]:
        return [p for p in self.pairs if p.label == label]


def split_of(name: str) -> str:
    digest = hashlib.sha256(f"{SPLIT_SALT}:{name}".encode()).digest()
    return "train" if digest[0] % 2 == 0 else "heldout"


def build(data: Path, split: str, originals: int = 300, distinct: int = 150,
          seed: int = 0) -> LabelledSet:
    """`originals` originals per split (three quarters Debian, a quarter kernel docs), each
    with one near-identical copy and one paraphrase, and `distinct` distinct same-topic pairs
    (half kernel, half Debian siblings)."""
    rng = random.Random(f"{seed}:{split}")
    debian = _debian(data)
    kernel = _kernel(data)
    vocabulary, donors = _edit_words(debian)
    docs: dict[str, str] = {}
    pairs: list[Pair] = []

    def eligible(pool: dict[str, str], prefix: str) -> list[str]:
        names = [n for n in sorted(pool) if split_of(f"{prefix}/{n}") == split
                 and len(pool[n].split()) >= MIN_WORDS and len(_sentences(pool[n])) >= 3]
        rng.shuffle(names)
        return names

    chosen = [("debian", n) for n in eligible(debian, "debian")[:originals * 3 // 4]] + \
        [("kernel", n) for n in eligible(kernel, "kernel")[:originals - originals * 3 // 4]]
    _plant(chosen, {"debian": debian, "kernel": kernel}, "", (rng, vocabulary, donors),
           paraphrase, docs, pairs)
    for source, a, b, text_a, text_b in _distinct(data, debian, kernel, split, rng,
                                                  distinct):
        for name, text in ((a, text_a), (b, text_b)):
            docs.setdefault(f"{source}/{name}", text)
        pairs.append(Pair(f"{source}/{a}", f"{source}/{b}", "distinct",
                          "same subsystem" if source == "kernel" else "package siblings",
                          source))
    return LabelledSet(split, docs, pairs)


# -- long documents (several chunks each) ---------------------------------------------------

LONG_KERNEL = (3000, 12000)  # characters of a whole kernel doc: about 3 to 12 chunks
LONG_DEBIAN = 1500  # characters of a Debian description: at least two chunks


def build_long(data: Path, split: str, originals: int = 50, distinct: int = 80,
               seed: int = 0) -> LabelledSet:
    """Long documents (each several chunks of the model), made as `build` makes its pairs:
    `originals` whole kernel docs (three fifths) and long Debian descriptions, each with one
    near-identical copy (one seeded edit) and one paraphrase (`long_paraphrase`), and
    `distinct` pairs of two whole kernel docs of one subsystem folder (at most three pairs
    a folder). Names are split by the same hash as `build` (a document is in the same half
    in both sets)."""
    rng = random.Random(f"{seed}:{split}:long")
    debian = {n: t for n, t in _debian(data).items() if len(t) >= LONG_DEBIAN}
    kernel = _whole_kernel(data)
    vocabulary, donors = _edit_words(_debian(data))
    docs: dict[str, str] = {}
    pairs: list[Pair] = []

    def eligible(pool: dict[str, str], prefix: str) -> list[str]:
        names = [n for n in sorted(pool) if split_of(f"{prefix}/{n}") == split
                 and len(_sentences(pool[n])) >= 6]
        rng.shuffle(names)
        return names

    n_kernel = originals * 3 // 5
    chosen = [("kernel", n) for n in eligible(kernel, "kernel")[:n_kernel]] + \
        [("debian", n) for n in eligible(debian, "debian")[:originals - n_kernel]]
    _plant(chosen, {"debian": debian, "kernel": kernel}, "long-", (rng, vocabulary, donors),
           long_paraphrase, docs, pairs)
    by_folder: dict[str, list[str]] = defaultdict(list)
    for name in kernel:
        if "/" in name and split_of(f"kernel-folder/{name.rsplit('/', 1)[0]}") == split:
            by_folder[name.rsplit("/", 1)[0]].append(name)
    folders = sorted(f for f, names in by_folder.items() if len(names) >= 2)
    rng.shuffle(folders)
    taken = 0
    for folder in folders:
        names = by_folder[folder]
        candidates = [(a, b) for x, a in enumerate(names) for b in names[x + 1:]]
        rng.shuffle(candidates)
        got = 0
        for a, b in candidates:
            if got == 3 or taken == distinct:
                break
            if _different(kernel[a], kernel[b]):
                for name in (a, b):
                    docs.setdefault(f"long-kernel/{name}", kernel[name])
                pairs.append(Pair(f"long-kernel/{a}", f"long-kernel/{b}", "distinct",
                                  "same subsystem", "kernel"))
                got += 1
                taken += 1
        if taken == distinct:
            break
    # originals first (they are archived first, so they are what a group keeps)
    first = {n: t for n, t in docs.items() if not n.endswith((".near.txt", ".para.txt"))}
    return LabelledSet(split, {**first, **docs}, pairs)


def long_paraphrase(text: str, rng: random.Random) -> str:
    """`paraphrase` paragraph by paragraph: a long document's rewrite keeps its sections in
    their order (shuffling the sentences of a whole 10-page document is no paraphrase)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n\n".join(paraphrase(p, rng).strip() for p in paragraphs) + "\n"


def _whole_kernel(data: Path) -> dict[str, str]:
    """Whole kernel docs of LONG_KERNEL characters, by relative path."""
    root = data / "linux-doc"
    low, high = LONG_KERNEL
    out = {}
    for path in sorted(root.rglob("*.rst")):
        text = path.read_text(errors="replace")
        if low <= len(text) <= high:
            out[str(path.relative_to(root))] = text
    return out


def _plant(chosen: list[tuple[str, str]], pools: dict[str, dict[str, str]], prefix: str,
           material: tuple[random.Random, list[str], list[str]],
           rewrite: Callable[[str, random.Random], str], docs: dict[str, str],
           pairs: list[Pair]) -> None:
    """Each chosen original, its near copy (the edits in turn) and its paraphrase
    (`rewrite`), into docs and pairs."""
    rng, vocabulary, donors = material
    edits = ("words", "drop-sentence", "add-sentence", "rewrap", "title")
    for k, (source, name) in enumerate(chosen):
        text = pools[source][name]
        original = f"{prefix}{source}/{name}"
        docs[original] = text
        how = edits[k % len(edits)]
        docs[f"{original}.near.txt"] = _near_copy(text, how, rng, vocabulary, donors)
        pairs.append(Pair(original, f"{original}.near.txt", "near-identical", how, source))
        docs[f"{original}.para.txt"] = rewrite(text, rng)
        pairs.append(Pair(original, f"{original}.para.txt", "paraphrase", "rewrite", source))


def _edit_words(debian: dict[str, str]) -> tuple[list[str], list[str]]:
    """What near copies draw on: the words and the sentences of the first 3,000 Debian
    descriptions."""
    texts = list(debian.values())[:3000]
    vocabulary = sorted({w.lower() for t in texts for w in WORDS.findall(t)})
    donors = [s for t in texts for s in _sentences(t) if 6 <= len(s.split()) <= 25]
    return vocabulary, donors


# -- edits ---------------------------------------------------------------------------------

def _near_copy(text: str, how: str, rng: random.Random, vocabulary: list[str],
               donors: list[str]) -> str:
    sentences = _sentences(text)
    if how == "words":  # two to four words replaced by other words of the corpus
        spans = [m.span() for m in WORDS.finditer(text)]
        out = text
        for start, end in sorted(rng.sample(spans, min(len(spans), rng.randint(2, 4))),
                                 reverse=True):
            out = out[:start] + rng.choice(vocabulary) + out[end:]
        return out
    if how == "drop-sentence":  # one sentence of at most a fifth of the words (or the shortest)
        total = len(text.split())
        small = [k for k, s in enumerate(sentences) if len(s.split()) <= total / 5] or \
            [min(range(len(sentences)), key=lambda k: len(sentences[k].split()))]
        drop = rng.choice(small)
        return " ".join(s for k, s in enumerate(sentences) if k != drop) + "\n"
    if how == "add-sentence":  # one sentence of at most a fifth of the words
        total = len(text.split())
        donor = rng.choice([d for d in donors if len(d.split()) <= max(6, total / 5)])
        at = rng.randrange(1, len(sentences) + 1)
        return " ".join([*sentences[:at], donor, *sentences[at:]]) + "\n"
    if how == "rewrap":  # every paragraph re-filled at another width, and one word changed
        width = rng.choice((50, 60, 100, 120))
        paragraphs = [textwrap.fill(" ".join(p.split()), width)
                      for p in re.split(r"\n\s*\n", text) if p.strip()]
        return _near_copy("\n\n".join(paragraphs) + "\n", "one-word", rng, vocabulary, donors)
    if how == "one-word":
        spans = [m.span() for m in WORDS.finditer(text)]
        start, end = rng.choice(spans)
        return text[:start] + rng.choice(vocabulary) + text[end:]
    if how == "title":  # the first line replaced (Debian descriptions get one added)
        lines = text.split("\n")
        title = f"{rng.choice(vocabulary).title()} {rng.choice(vocabulary)} overview"
        if lines and lines[0].strip() and len(lines) > 1 and re.fullmatch(
                r"[=#*~-]{3,}", lines[1].strip() or "x"):
            return "\n".join([title, "=" * len(title), *lines[2:]])
        return f"{title}\n\n{text}"
    raise ValueError(how)


def paraphrase(text: str, rng: random.Random) -> str:
    """Sentences reordered (the first kept first), asides and trailing clauses dropped,
    synonyms and abbreviations swapped in."""
    sentences = [" ".join(s.split()) for s in _sentences(text)]
    head, rest = sentences[:1], sentences[1:]
    rng.shuffle(rest)
    out = []
    for sentence in head + rest:
        sentence = re.sub(r"\s*\([^()]{0,80}\)", "", sentence)  # asides
        if sentence.count(",") >= 2 and rng.random() < 0.5:  # a trailing clause
            cut = sentence.rfind(",")
            sentence = sentence[:cut] + sentence[-1:] if sentence[-1] in ".!?" else \
                sentence[:cut] + "."
        out.append(re.sub(r"\b[A-Za-z]+\b", lambda m: _swap(m.group(0)), sentence))
    return " ".join(out) + "\n"


def _swap(word: str) -> str:
    swapped = SWAPS.get(word.lower())
    if swapped is None:
        return word
    return swapped[:1].upper() + swapped[1:] if word[:1].isupper() else swapped


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text.strip()) if s.strip()]


# -- corpora -------------------------------------------------------------------------------

def _debian(data: Path) -> dict[str, str]:
    folder = data / "debian-descriptions" / "docs"
    return {p.name: p.read_text(errors="replace") for p in sorted(folder.glob("*.txt"))}


def _kernel(data: Path) -> dict[str, str]:
    """Kernel docs by relative path, cut to their first EXCERPT characters at a paragraph."""
    root = data / "linux-doc"
    out = {}
    for path in sorted(root.rglob("*.rst")):
        text = path.read_text(errors="replace")
        if len(text) > EXCERPT:
            cut = text.rfind("\n\n", 0, EXCERPT)
            text = text[:cut if cut > EXCERPT // 2 else EXCERPT] + "\n"
        out[str(path.relative_to(root))] = text
    return out


def _distinct(data: Path, debian: dict[str, str], kernel: dict[str, str], split: str,
              rng: random.Random, count: int) -> list[tuple[str, str, str, str, str]]:
    found: list[tuple[str, str, str, str, str]] = []
    by_folder: dict[str, list[str]] = defaultdict(list)
    for name in kernel:
        if "/" in name and len(kernel[name].split()) >= MIN_WORDS and \
                split_of(f"kernel-folder/{name.rsplit('/', 1)[0]}") == split:
            by_folder[name.rsplit("/", 1)[0]].append(name)
    folders = sorted(f for f, names in by_folder.items() if len(names) >= 2)
    rng.shuffle(folders)
    for folder in folders:
        if len(found) >= count // 2:
            break
        a, b = sorted(rng.sample(by_folder[folder], 2))
        if _different(kernel[a], kernel[b]):
            found.append(("kernel", a, b, kernel[a], kernel[b]))
    stems: dict[str, list[str]] = defaultdict(list)
    for name in debian:
        stem = re.sub(r"^lib|(-dev|-doc|-common|-data|-utils|-tools|-bin)?\.txt$", "", name)
        stems[stem].append(name)
    families = sorted(s for s, names in stems.items() if len(names) >= 2
                      and split_of(f"debian-family/{s}") == split)
    rng.shuffle(families)
    for stem in families:
        if len(found) >= count:
            break
        a, b = sorted(rng.sample(stems[stem], 2))
        if min(len(debian[a].split()), len(debian[b].split())) < 20:
            continue
        if _different(debian[a], debian[b]):
            found.append(("debian", a, b, debian[a], debian[b]))
    return found


def _different(a: str, b: str) -> bool:
    """Distinct texts: not one sentence in common, and less than half of their words in
    matching runs (difflib's ratio over words, a measure dedupe does not use)."""
    if {_norm(s) for s in _sentences(a)} & {_norm(s) for s in _sentences(b)}:
        return False
    wa, wb = _norm(a).split()[:600], _norm(b).split()[:600]
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio() < 0.5


def _norm(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", sentence.lower()))


# -- choosing the Jaccard threshold (reads the train split only) -------------------------------

GRID = tuple(round(0.4 + 0.05 * k, 2) for k in range(9))  # 0.40 .. 0.80
KEEP = 0.98  # share of the planted near-identical copies the threshold must keep


def choose(data: Path) -> tuple[int, float, list[list[object]]]:
    """The default (shingle words, Jaccard) from the train split: for each shingle length the
    highest Jaccard on GRID keeping KEEP of the near-identical copies, then the length whose
    choice lets the fewest paraphrases in. Returns it and the table it was read from."""
    from briefmin.shingles import shingle

    train = build(data, "train")
    names = list(train.docs)
    at = {n: k for k, n in enumerate(names)}
    rows: list[list[object]] = []
    best: tuple[float, int, float] | None = None
    for words in (3, 4, 5):
        shingles = shingle([train.docs[n] for n in names], words=words)
        jac = {label: shingles.jaccards(np.array([at[p.a] for p in train.of(label)]),
                                        np.array([at[p.b] for p in train.of(label)]))
               for label in ("near-identical", "paraphrase", "distinct")}
        keeping = [t for t in GRID if (jac["near-identical"] >= t).mean() >= KEEP]
        for t in GRID:
            rows.append([words, t, float((jac["near-identical"] >= t).mean()),
                         float((jac["paraphrase"] >= t).mean()),
                         int((jac["distinct"] >= t).sum()),
                         "chosen for this length" if keeping and t == max(keeping) else ""])
        if keeping:
            t = max(keeping)
            paraphrases = float((jac["paraphrase"] >= t).mean())
            if best is None or paraphrases < best[0]:
                best = (paraphrases, words, t)
    assert best is not None
    return best[1], best[2], rows


# -- choosing the chunk margin of `similar` (reads the long set's train split only) -----------

MARGINS = tuple(round(0.01 * k, 2) for k in range(31))  # 0.00 .. 0.30
SAME = ("near-identical", "paraphrase")


@dataclass(frozen=True)
class Scored:
    pair: Pair
    cosine: float  # of the two brief vectors, from the stored int8 codes (what dedupe reads)
    coverage: float | None  # chunkmatch.coverage, None when either brief is one chunk


def long_scores(archive: Path, labelled_set: LabelledSet) -> list[Scored]:
    """Each pair's brief cosine and chunk coverage, from an archive of the set's documents
    (bench_dedupe.labelled_archive), read as `dedupe` reads them."""
    from briefmin import Archive
    from briefmin.chunkmatch import coverage
    from briefmin.nearpairs import decoded
    from briefmin.store import BRIEF_KINDS

    with Archive.open(archive) as opened:
        stored = opened.vectors(BRIEF_KINDS)
        codes = opened.all_int8(BRIEF_KINDS)
        unit = decoded(codes, stored.lengths(codes))
        content = {r.path: r.content_id for r in opened.records()}
        chunks = opened.chunk_vectors(content.values())
    row = {c: k for k, c in enumerate(stored.content_ids.tolist())}
    out = []
    for p in labelled_set.pairs:
        a, b = content[p.a], content[p.b]
        cosine = float(unit[row[a]] @ unit[row[b]])
        both = a in chunks and b in chunks
        out.append(Scored(p, cosine, coverage(chunks[a], chunks[b]) if both else None))
    return out


def choose_margin(scored: list[Scored], threshold: float) -> tuple[float, list[list[object]]]:
    """The smallest MARGIN on MARGINS (the strictest check) under which KEEP of the planted
    near copies and paraphrases of two long briefs that reach `threshold` stay similar
    (coverage >= threshold - margin); and the table it was read from (what each margin
    keeps and how many distinct pairs above the threshold it drops)."""
    at = [s for s in scored if s.coverage is not None and s.cosine >= threshold]
    same = np.array([s.coverage for s in at if s.pair.label in SAME], np.float64)
    other = np.array([s.coverage for s in at if s.pair.label == "distinct"], np.float64)
    rows: list[list[object]] = []
    chosen = None
    for margin in MARGINS:
        kept = float((same >= threshold - margin).mean()) if len(same) else 1.0
        if chosen is None and kept >= KEEP:
            chosen = margin
        rows.append([margin, len(same), f"{kept:.3f}", len(other),
                     int((other < threshold - margin).sum()),
                     "chosen" if chosen == margin else ""])
    assert chosen is not None
    return chosen, rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=("train", "heldout"))
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--show", type=int, default=0, help="print this many pairs")
    parser.add_argument("--long", action="store_true",
                        help="the long-document set (build_long)")
    parser.add_argument("--choose-margin", action="store_true",
                        help="choose the chunk margin of `similar` (long set, train split)")
    parser.add_argument("--choose", action="store_true",
                        help="choose the default shingle length and Jaccard (train split)")
    args = parser.parse_args()
    if args.choose_margin:
        from bench.bench_dedupe import labelled_archive
        from briefmin.dedupe import DEFAULT_THRESHOLD

        train = build_long(args.data.resolve(), "train")
        margin, rows = choose_margin(long_scores(labelled_archive(train), train),
                                     DEFAULT_THRESHOLD)
        print("margin", "same pairs at t", "kept", "distinct at t", "distinct dropped", "",
              sep="\t")
        for row in rows:
            print(*row, sep="\t")
        print(f"chosen: chunk margin {margin} (at --threshold {DEFAULT_THRESHOLD})")
        return
    if args.choose:
        words, jaccard, rows = choose(args.data.resolve())
        for row in rows:
            print(*row, sep="\t")
        print(f"chosen: {words}-word shingles, Jaccard {jaccard}")
        return
    labelled = (build_long if args.long else build)(args.data.resolve(), args.split)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for p in labelled.pairs:
        counts[(p.label, p.source)] += 1
    print(f"{args.split}: {len(labelled.docs)} documents, {len(labelled.pairs)} pairs")
    for (label, source), n in sorted(counts.items()):
        print(f"  {label:15} {source:7} {n}")
    for p in labelled.pairs[:args.show]:
        print(f"--- {p.label} ({p.how}): {p.a} | {p.b}\n{labelled.docs[p.a][:400]}\n~~~\n"
              f"{labelled.docs[p.b][:400]}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
