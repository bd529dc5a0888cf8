#!/usr/bin/env python3
"""Chinese briefs in `search` and `dedupe`: the kernel docs' Chinese translations
(bench/fetch-translations.sh), which no part of search or dedupe was tuned on.

Search: queries are words that jieba (a Chinese word segmenter briefmin does not use) cuts
from the corpus, of 2-4 letters, held by 2-40 documents; a document holds a word when its
text, with the white space between two CJK letters removed (a wrapped line), contains it.
Each method ranks the documents; per query, R-precision (the share of the first H ranked
that hold the word, H = how many hold it; 1 means every holder ranks above every other
document) and recall@10. Methods: briefmin's lexical mode (each code given by --code, so
the code before the change runs in the same run), bm25s with its default tokenizer, and
bm25s over jieba's words (what a user who knows Chinese would set up).

Dedupe: short briefs cut from the documents (runs of paragraphs), some with an edited copy
(1, 3 or 6 of their jieba words replaced by other words of the corpus), go into one
archive, and `briefmin dedupe --json --prune` (dry run) reports groups. Recall: copies in
a near-identical group with their original. Wrong: near-identical groups holding two briefs
that are not one's copy of the other (the zh_CN and zh_TW translation of one passage are
two briefs), and planned removals of such a brief.

Synopses: Debian's Chinese package descriptions (Translation-zh_CN, fetched once); each
Chinese synopsis is a query answered by its own long description; every search mode, on a
held-out half and the training half the fusion's `cjk_alpha` was chosen on, beside bm25s.
These archives use the bundled model.

The other archives use the hashing encoder: the lexical channel and the shingles need no
model, and the bundled model reads English."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BENCH,
    OUT,
    PYTHON,
    REPO,
    log,
    machine,
    parse_args,
    section,
    table,
)

LETTERS = ("\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff")
WRAP = re.compile(f"(?<=[{LETTERS}])\\s+(?=[{LETTERS}])")
WORD = re.compile(f"[{LETTERS}]{{2,4}}")


def _args() -> Any:
    def extra(parser: Any) -> None:
        parser.add_argument("--code", action="append", default=[],
                            help="NAME=PATH: also run briefmin from this checkout (PYTHONPATH)")
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--copies", type=int, default=60)
        parser.add_argument("--mode", default="lexical", help=argparse_hidden())
        parser.add_argument("--worker", nargs=2, metavar=("ARCHIVE", "QUERIES"),
                            help=argparse_hidden())
    return parse_args(__doc__.splitlines()[0], extra)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


def worker(archive: str, queries_file: str, mode: str = "lexical") -> None:
    """In the briefmin checkout on PYTHONPATH: rankings of every query in `mode`."""
    from briefmin import Archive
    from briefmin.search import search_texts

    queries = json.loads(Path(queries_file).read_text())
    with Archive.open(archive) as opened:
        start = time.perf_counter()
        search_texts(opened, queries, k=10, mode=mode)  # timed as users call it
        seconds = time.perf_counter() - start
        hits = search_texts(opened, queries, k=50, mode=mode)
    json.dump({"seconds": seconds, "rankings": [[h.path for h in found] for found in hits]},
              sys.stdout)


# Debian's Chinese package descriptions (the translations apt shows with LANG=zh_CN): the
# synopsis of each is a query, its long description the brief that answers it
TRANSLATION_URL = "http://deb.debian.org/debian/dists/bookworm/main/i18n/Translation-zh_CN.bz2"


def debian_zh(data: Path) -> list[tuple[str, str, str]]:
    """(package, synopsis, long description) of the packages whose synopsis is Chinese and
    whose synopsis and description are each held by no other package."""
    import bz2
    import collections
    import urllib.request

    path = data / "debian-zh" / "Translation-zh_CN.bz2"
    if not path.exists():
        log(f"fetching {TRANSLATION_URL}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(TRANSLATION_URL, timeout=120) as got:
            path.write_bytes(got.read())
    items = []
    for block in bz2.decompress(path.read_bytes()).decode().split("\n\n"):
        package = re.search(r"^Package: (.+)$", block, re.M)
        found = re.search(r"^Description-zh_CN: (.*)\n((?: .*\n?)*)", block, re.M)
        if not package or not found or not re.search(f"[{LETTERS}]", found.group(1)):
            continue
        lines = [line[1:] for line in found.group(2).splitlines()]
        body = "\n".join("" if line.strip() == "." else line for line in lines).strip()
        if body:
            items.append((package.group(1), found.group(1).strip(), body))
    synopses = collections.Counter(s for _, s, _ in items)
    bodies = collections.Counter(b for _, _, b in items)
    return [i for i in items if synopses[i[1]] == 1 and bodies[i[2]] == 1]


def synopsis_part(data: Path, codes: dict[str, str | None], work: Path) -> list[str]:
    """Chinese synopses as queries, each answered by its own description, in every mode, on
    the held-out half (by a hash of the package name) and the half `cjk_alpha` was chosen
    on; bm25s beside them."""
    import hashlib

    items = debian_zh(data)
    staged = work / "debian-zh"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for package, _, body in items:
        (staged / f"{package}.txt").write_text(body + "\n")
    held = [int(hashlib.sha256(p.encode()).hexdigest(), 16) % 2 == 1 for p, _, _ in items]
    answers = [f"{p}.txt" for p, _, _ in items]
    qfile = work / "synopses.json"
    qfile.write_text(json.dumps([s for _, s, _ in items], ensure_ascii=False))
    rows = []

    def row(label: str, rankings: list[list[str]]) -> None:
        for split, wanted in (("held out", True), ("training", False)):
            picked = [(r, a) for r, a, h in zip(rankings, answers, held, strict=True)
                      if h == wanted]
            ranks = [[Path(p).name for p in r].index(a) + 1
                     if a in [Path(p).name for p in r[:10]] else 0 for r, a in picked]
            n = len(ranks)
            rows.append([label, split, n, f"{sum(k == 1 for k in ranks) / n:.3f}",
                         f"{sum(k > 0 for k in ranks) / n:.3f}",
                         f"{sum(1 / k for k in ranks if k) / n:.3f}"])
        log(f"synopses {label}: {rows[-2]}")

    for label, code in codes.items():
        archive = work / f"debian-zh-{label}.bmin"
        archive.unlink(missing_ok=True)
        briefmin_run(code, "add", str(archive), ".", cwd=staged)  # the bundled model
        env = dict(os.environ) | ({"PYTHONPATH": code} if code else {})
        for mode in ("hybrid", "lexical", "semantic"):
            done = subprocess.run([PYTHON, __file__, "--worker", str(archive), str(qfile),
                                   "--mode", mode], env=env, text=True, capture_output=True,
                                  check=True)
            row(f"briefmin {label}, {mode}", json.loads(done.stdout)["rankings"])
    docs = {answer: body for answer, (_, _, body) in zip(answers, items, strict=True)}
    synopses = [s for _, s, _ in items]
    for segment in (False, True):
        row(f"bm25s, {'jieba words' if segment else 'default tokenizer'}",
            bm25s_rankings(docs, synopses, segment))
    return [f"{len(items)} Chinese Debian descriptions ({TRANSLATION_URL}), each with a "
            "synopsis no other package has; the synopsis is the query, the long description "
            "the brief that answers it; the bundled model. `cjk_alpha` (the fusion's weight "
            "of the cosine for a query mostly in CJK) was chosen on the training half.",
            table(["method", "queries", "n", "recall@1", "recall@10", "MRR@10"], rows)]


def corpus(data: Path) -> dict[str, str]:
    root = data / "linux-doc-translations"
    if not root.is_dir():
        log(f"fetching the translations into {data}")
        subprocess.run(["bash", str(BENCH / "fetch-translations.sh"), str(data)], check=True)
    return {str(p.relative_to(root)): p.read_text(errors="replace")
            for p in sorted(root.rglob("*")) if p.suffix in (".rst", ".txt") and p.is_file()}


def jieba_words(text: str) -> list[str]:
    import jieba

    return [w for w in jieba.lcut(WRAP.sub("", text)) if w.strip()]


def pick_queries(docs: dict[str, str], n: int
                 ) -> tuple[list[str], dict[str, set[str]], dict[str, set[str]]]:
    """(queries, the documents holding each as a string, those holding it as a jieba word)."""
    unwrapped = {name: WRAP.sub("", text) for name, text in docs.items()}
    segmented = {name: set(jieba_words(text)) for name, text in docs.items()}
    vocab = sorted({w for words in segmented.values() for w in words if WORD.fullmatch(w)})
    holders = {w: {name for name, text in unwrapped.items() if w in text} for w in vocab}
    usable = [w for w in vocab if 2 <= len(holders[w]) <= 40]
    chosen = random.Random(7).sample(usable, min(n, len(usable)))
    as_words = {w: {name for name, words in segmented.items() if w in words} for w in chosen}
    return chosen, {w: holders[w] for w in chosen}, as_words


def scores(rankings: list[list[str]], queries: list[str], holders: dict[str, set[str]]
           ) -> tuple[float, float, float]:
    """(mean R-precision, share of queries with every holder first, mean recall@10)."""
    r_precision, first, recall = [], 0, []
    for query, ranked in zip(queries, rankings, strict=True):
        held = holders[query]
        top = ranked[:len(held)]
        r = sum(name in held for name in top) / len(held)
        r_precision.append(r)
        first += r == 1.0
        recall.append(sum(name in held for name in ranked[:10]) / min(10, len(held)))
    n = len(queries)
    return sum(r_precision) / n, first / n, sum(recall) / n


def bm25s_rankings(docs: dict[str, str], queries: list[str], segment: bool) -> list[list[str]]:
    import bm25s

    names = list(docs)
    if segment:
        corpus_tokens = [jieba_words(docs[name]) for name in names]
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenization.Tokenized(*_vocab_ids(corpus_tokens)),
                        show_progress=False)
        vocab = _vocab_ids(corpus_tokens)[1]
        query_ids = [[vocab[w] for w in jieba_words(q) if w in vocab] for q in queries]
        out = []
        for ids in query_ids:
            if not ids:
                out.append([])
                continue
            found, _ = retriever.retrieve([ids], k=min(50, len(names)), show_progress=False)
            out.append([names[i] for i in found[0]])
        return out
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([docs[name] for name in names], stopwords=None,
                                   show_progress=False), show_progress=False)
    out = []
    for query in queries:
        tokens = bm25s.tokenize([query], stopwords=None, show_progress=False)
        try:
            found, _ = retriever.retrieve(tokens, k=min(50, len(names)), show_progress=False)
            out.append([names[i] for i in found[0]])
        except (ValueError, KeyError):  # no token of the query is in the vocabulary
            out.append([])
    return out


def _vocab_ids(tokens: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(w, len(vocab)) for w in doc] for doc in tokens]
    return ids, vocab


def briefmin_run(code: str | None, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    return subprocess.run([PYTHON, "-m", "briefmin", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, check=True)


def search_part(docs: dict[str, str], codes: dict[str, str | None], n: int, work: Path
                ) -> list[str]:
    log("picking queries (jieba)")
    queries, holders, as_words = pick_queries(docs, n)
    staged = work / "search"
    for name, text in docs.items():
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_text(text)
    rows = []
    for label, code in codes.items():
        archive = work / f"search-{label}.bmin"
        archive.unlink(missing_ok=True)
        start = time.perf_counter()
        briefmin_run(code, "add", str(archive), ".", "--model", "hashing:384", cwd=staged)
        added = time.perf_counter() - start
        info = json.loads(briefmin_run(code, "info", str(archive), "--json", cwd=work).stdout)
        for form, asked in (("unquoted", queries), ("quoted", [f'"{q}"' for q in queries])):
            qfile = work / "queries.json"
            qfile.write_text(json.dumps(asked))
            env = dict(os.environ) | ({"PYTHONPATH": code} if code else {})
            done = subprocess.run([PYTHON, __file__, "--worker", str(archive), str(qfile)],
                                  env=env, text=True, capture_output=True, check=True)
            result = json.loads(done.stdout)
            r, first, recall = scores(result["rankings"], queries, holders)
            r_words = scores(result["rankings"], queries, as_words)[0]
            rows.append([f"briefmin {label}, {form}", f"{r:.3f}", f"{first:.0%}",
                         f"{recall:.3f}", f"{r_words:.3f}",
                         f"{result['seconds'] * 1000 / len(queries):.1f}",
                         f"{info['lexical_index_bytes'] / 1024:.0f} KB", f"{added:.1f}"])
            log(f"{label} {form}: {rows[-1]}")
    for segment in (False, True):
        start = time.perf_counter()
        rankings = bm25s_rankings(docs, queries, segment)
        seconds = time.perf_counter() - start
        r, first, recall = scores(rankings, queries, holders)
        r_words = scores(rankings, queries, as_words)[0]
        rows.append([f"bm25s, {'jieba words' if segment else 'default tokenizer'}",
                     f"{r:.3f}", f"{first:.0%}", f"{recall:.3f}", f"{r_words:.3f}",
                     f"{seconds * 1000 / len(queries):.1f} (index included)", "", ""])
        log(f"bm25s {segment}: {rows[-1]}")
    sizes = sorted(len(h) for h in holders.values())
    return [f"{len(queries)} queries, held by 2-40 of {len(docs)} documents "
            f"(median {sizes[len(sizes) // 2]}). The first three columns count a document "
            "holding the query's letters in order (what briefmin's literal check tests); "
            "the fourth, R-precision by words, one where jieba cuts the query as a word of "
            "its own (a judge briefmin does not use, and bm25s over jieba's words does). "
            "Time: briefmin at `-k 10`, one batch; bm25s including its indexing.",
            table(["method", "R-precision", "every holder first", "recall@10",
                   "R-precision by words", "ms per query", "lexical index", "add s"], rows)]


def edited(text: str, words: int, vocab: list[str], rng: random.Random) -> str:
    """The text with `words` of its CJK words (jieba's, 2-4 letters) replaced by other words
    of the corpus; everything else, white space included, as it was."""
    import jieba

    pieces = jieba.lcut(text)
    cjk = [k for k, w in enumerate(pieces) if WORD.fullmatch(w)]
    for k in rng.sample(cjk, min(words, len(cjk))):
        pieces[k] = rng.choice([w for w in vocab if w != pieces[k]])
    return "".join(pieces)


def short_briefs(docs: dict[str, str], rng: random.Random, n: int) -> dict[str, str]:
    """Briefs as people write them: runs of a document's paragraphs (unwrapped) of 150-600
    CJK letters, at most two per document, n in all."""
    found: dict[str, str] = {}
    for name, text in docs.items():
        paragraphs = [WRAP.sub("", p).strip() for p in text.split("\n\n")]
        run: list[str] = []
        taken = 0
        for paragraph in paragraphs:
            run.append(paragraph)
            letters = len(re.findall(f"[{LETTERS}]", "".join(run)))
            if letters > 600:
                run = []
            elif letters >= 150 and taken < 2:
                found[f"{name}.{taken}.md"] = "\n\n".join(run) + "\n"
                taken, run = taken + 1, []
    chosen = rng.sample(sorted(found), min(n, len(found)))
    return {name: found[name] for name in sorted(chosen)}


def dedupe_part(docs: dict[str, str], codes: dict[str, str | None], copies: int, work: Path
                ) -> list[str]:
    rng = random.Random(11)
    vocab = sorted({w for text in docs.values() for w in jieba_words(text) if WORD.fullmatch(w)})
    briefs = short_briefs(docs, rng, 300)
    chosen = rng.sample(sorted(briefs), min(copies, len(briefs)))
    rows = []
    for words in (1, 3, 6):
        staged = work / f"dedupe-{words}"
        shutil.rmtree(staged, ignore_errors=True)
        family: dict[str, str] = {}
        for name, text in briefs.items():
            (staged / name).parent.mkdir(parents=True, exist_ok=True)
            (staged / name).write_text(text)
            family[name] = name
        for name in chosen:
            copy = f"copies/{name}"
            (staged / copy).parent.mkdir(parents=True, exist_ok=True)
            (staged / copy).write_text(edited(briefs[name], words, vocab, rng))
            family[copy] = name
        for label, code in codes.items():
            archive = work / f"dedupe-{label}-{words}.bmin"
            archive.unlink(missing_ok=True)
            briefmin_run(code, "add", str(archive), ".", "--model", "hashing:384", cwd=staged)
            out = subprocess.run([PYTHON, "-m", "briefmin", "dedupe", str(archive), "--json",
                                  "--prune"], env=dict(os.environ) | (
                                      {"PYTHONPATH": code} if code else {}),
                                 text=True, capture_output=True, cwd=work)
            report = json.loads(out.stdout)
            near = [g for g in report["groups"] if g["kind"] == "near-identical"]
            found = sum(any({n, f"copies/{n}"} <= set(g["paths"]) for g in near)
                        for n in chosen)
            wrong = sum(len({family[p] for p in g["paths"]}) > 1 for g in near)
            bad_removals = sum(family[r["path"]] != family[r["keeps"]]
                               for r in report["prune"]["removals"])
            jaccards = sorted(g["jaccards"][1] for g in near
                              if len({family[p] for p in g["paths"]}) == 1)
            rows.append([words, f"briefmin {label}", f"{found}/{len(chosen)}", wrong,
                         bad_removals,
                         f"{jaccards[len(jaccards) // 2]:.3f}" if jaccards else "-"])
            log(f"dedupe {words} {label}: {rows[-1]}")
    return [f"{len(briefs)} short briefs (150-600 CJK letters: runs of a translation's "
            f"paragraphs, at most two per document, zh_CN and zh_TW alike); {len(chosen)} "
            "of them get an edited copy, some words (jieba's) replaced by random words of the "
            "corpus.",
            table(["words replaced", "code", "copies found near-identical",
                   "wrong near-identical groups", "wrong planned removals",
                   "median jaccard found"], rows)]


def main() -> None:
    args = _args()
    if args.worker:
        worker(*args.worker, mode=args.mode)
        return
    docs = corpus(args.data)
    codes: dict[str, str | None] = {"this checkout": str(REPO)}
    for spec in args.code:
        label, _, path = spec.partition("=")
        codes[label] = str(Path(path).resolve())
    work = OUT / "cjk"
    work.mkdir(parents=True, exist_ok=True)
    n = 60 if args.quick else args.queries
    body = [machine(), "### search (lexical mode)"]
    body += search_part(docs, codes, n, work)
    body += ["### dedupe"]
    body += dedupe_part(docs, codes, 20 if args.quick else args.copies, work)
    body += ["### search: Chinese synopses find their package's description"]
    body += synopsis_part(args.data, codes, work)
    print(section("Chinese briefs in search and dedupe (kernel docs' Chinese translations)",
                  body))


if __name__ == "__main__":
    main()
