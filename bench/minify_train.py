"""Tuning bench for `minify` on the TRAINING splits of every genre (never a held-out doc):
what chose the constants of briefmin/selection.py in its third round and clause units
(`CLAUSES`, briefmin/minify.py) in its fourth (bench/RESULTS.md). The `usrdoc` genre has
no training split; `--genres usrdeep pypi sysreadme` are README stand-ins that no bench genre
reads.

Each variant is a set of `minify_many` keyword arguments; every variant and the lead get the
same word budget, and are scored per document by MiniLM over 180-word chunks (vectors cached
in bench/out/minilm-cache.npz), top-20 TF-IDF terms kept (IDF over the genre's training
documents) and, with --e5, multilingual-e5-small (cached as in bench_minify).

    .venv/bin/python bench/minify_train.py [--n 30] [--e5] [--genres G ...] [--variants NAME ...]
    .venv/bin/python bench/minify_train.py --n 20 --e5 --genres usrdeep kernel debian \\
        --variants round2 prefix                                     # the fourth round's
    .venv/bin/python bench/minify_train.py --n 20 --genres pypi usrdeep kernel debian \\
        --variants default open0.15 open0.3 open0.5 --save out.jsonl  # the fifth round's
    .venv/bin/python bench/minify_train.py --save out.jsonl --compare open0.15 default
    .venv/bin/python bench/minify_train.py --n 20 --genres pypi usrdeep kernel debian \\
        --variants default back backonly norm0.5 norm0.75 norm0.9 --save out.jsonl  # sixth
    .venv/bin/python bench/minify_train.py --n 40 --e5 --genres sysreadme --ratios 0.7 \
        --variants default --save out.jsonl && ... --compare default lead     # seventh
    .venv/bin/python bench/minify_train.py --n 40 --e5 --genres sysreadme \
        --variants default cover coverruns --save out.jsonl                  # eighth
    .venv/bin/python bench/minify_train.py --n 60 --e5 --genres debshort \
        --variants default clausepool --baselines lead truncate --save out.jsonl  # eleventh
    .venv/bin/python bench/minify_train.py --n 60 --e5 --genres manpages \
        --variants default layout --baselines lead truncate --save out.jsonl  # fourteenth
    .venv/bin/python bench/minify_train.py --n 60 --e5 --genres mantabs \
        --variants default tabs --baselines lead truncate --save out.jsonl  # fifteenth
    .venv/bin/python bench/minify_train.py --n 60 --e5 --genres pydoc \
        --variants default gutter --baselines lead truncate --save out.jsonl  # sixteenth
    .venv/bin/python bench/minify_train.py --n 45 --e5 --genres html \\
        --variants default start --baselines lead truncate --save out.jsonl  # eighteenth

`--save` keeps every per-document score; `--compare` reads them back and prints a candidate
minus a base per document with a paired bootstrap interval (the fifth round's rule);
`--e5-variants` limits the slow e5 judge to what a decision needs."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_minify import EPS, RATIOS, TRAIN_SEED  # noqa: E402
from minify_eval import (  # noqa: E402
    E5_CHUNK_WORDS,
    LOADERS,
    MINILM_CHUNK_WORDS,
    SUMMARIZERS,
    TRAINABLE,
    USRDOC,
    E5Cache,
    MiniLmCache,
    TfIdf,
    VectorCache,
    lead_output,
    offset_cosines,
    paired_bootstrap,
    pooled,
    split,
    usrdoc_files,
)

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import (  # noqa: E402
    count_words,
    minify_many,
    word_budget,
)
from briefmin.selection import Priors  # noqa: E402

# name -> minify_many keyword arguments
VARIANTS: dict[str, dict[str, Any]] = {
    "round2": {"priors": Priors()},
}
for _p in (0.003, 0.01, 0.03):
    VARIANTS[f"pos{_p}"] = {"priors": Priors(position=_p)}
for _r in (0.0005, 0.002, 0.005):
    VARIANTS[f"runs{_r}"] = {"priors": Priors(runs=_r)}
for _m in (0.001, 0.003, 0.01):
    VARIANTS[f"lead{_m}"] = {"priors": Priors(lead_margin=_m)}
VARIANTS["first"] = {"priors": Priors(keep_first=True)}
for _p in (0.1, 0.3):
    VARIANTS[f"pos{_p}"] = {"priors": Priors(position=_p)}
for _red in (0.98, 1.01):
    VARIANTS[f"red{_red}"] = {"redundancy": _red}
    VARIANTS[f"red{_red}pos0.03"] = {"redundancy": _red, "priors": Priors(position=0.03)}
for _s in (0.05, 0.1, 0.2, 0.3):
    VARIANTS[f"skip{_s}"] = {"priors": Priors(skip=_s, lead_margin=1.0)}
    VARIANTS[f"skip{_s}m0.01"] = {"priors": Priors(skip=_s, lead_margin=0.01)}
# the third round's variants were measured over sentence units (the default since is clauses)
for _variant in VARIANTS.values():
    _variant.setdefault("clauses", False)
VARIANTS["default"] = {}
# fourth round: clause units (briefmin/units.py `split_clauses`); "free" clauses (any
# combination) and a backward-elimination candidate were measured at commit 31ab232
# ("round2" is the sentence units' selection)
VARIANTS["prefix"] = {"clauses": True}
# fifth round: the opening (the lead within this share of the budget) kept, the rest chosen
for _o in (0.15, 0.3, 0.5):
    VARIANTS[f"open{_o}"] = {"priors": Priors(opening=_o)}
# sixth round: backward elimination as one more candidate, the method's value decides
# ("back"); "backonly" is backward elimination alone (a diagnostic: no forward runs)
VARIANTS["back"] = {"priors": Priors(backward=True)}
VARIANTS["backonly"] = {"priors": Priors(backward=True), "cost_powers": (), "refine": False}
# the value's norm power (`Priors.norm_power`; 1 is the cosine)
for _g in (0.5, 0.75, 0.9):
    VARIANTS[f"norm{_g}"] = {"priors": Priors(norm_power=_g)}
# eighth round: facility-location coverage (`Priors.cover`: the value is the cosine times
# the coverage; `Priors.cover_runs`: greedy runs on the coverage gain, the cosine picks)
VARIANTS["cover"] = {"priors": Priors(cover=True)}
VARIANTS["coverruns"] = {"priors": Priors(cover_runs=True)}
# ninth round: the measured pick (`minify.PICK_TOKENS`) came after every variant above, which
# was measured without it; "estimate" is the eighth round's default (the estimate picks)
for _name, _variant in VARIANTS.items():
    if _name != "default":
        _variant.setdefault("pick_tokens", 0)
VARIANTS["estimate"] = {"pick_tokens": 0}
# tenth round: the pick's pool widened by candidates from contextual unit vectors
VARIANTS["ctxpool"] = {"pick_contextual": True}
# eleventh round: the pick's pool widened by candidates over clause units
VARIANTS["clausepool"] = {"pick_clauses": True}
VARIANTS["noclausepool"] = {"pick_clauses": False}
# twelfth round: fine clause units (also cut after every comma) in the pick's pool too
VARIANTS["finepool"] = {"pick_fine_clauses": True}
# the ninth round's default (session 12's full held-out run): sentence candidates only
VARIANTS["cutlead"] = {"pick_cut_lead": True}  # the thirteenth round's candidate
VARIANTS["sentpool"] = {"pick_clauses": False, "pick_fine_clauses": False}
# fourteenth round: plain text laid out by indentation (`units.laid_out`) read as prose
VARIANTS["layout"] = {"layout_by_indent": True}
VARIANTS["nolayout"] = {"layout_by_indent": False}
# the fifteenth round's: a tab in a laid-out brief reaches the next multiple of 8 columns
VARIANTS["tabs"] = {"layout_tab_stop": 8}
VARIANTS["notabs"] = {"layout_tab_stop": None}
# the sixteenth round's: pydoc's ` |  ` gutter read as indentation in a laid-out brief
VARIANTS["gutter"] = {"layout_gutters": True}
VARIANTS["nogutter"] = {"layout_gutters": False}
# the eighteenth round's: a sentence over the whole budget keeps its start (the
# seventeenth's, `lines`, read it by line: commit 13553f2's OVERSIZED_BY_LINE)
VARIANTS["start"] = {"oversized_start": True}
VARIANTS["nostart"] = {"oversized_start": False}
# a diagnostic (session 23), no round: every brief takes the measured pick, however long
VARIANTS["pickall"] = {"pick_tokens": 10**9}
# the nineteenth round's candidate: long briefs of >= 4 tokens per word take a measured pick
VARIANTS["dense"] = {"pick_dense": 4.0}
VARIANTS["nodense"] = {"pick_dense": None}
# the twentieth round's: a one-line lead-in above a list is the context of its items; the
# twenty-first's: only one of at least 3 lead-ins sharing their first word
VARIANTS["leadins"] = {"lead_ins": 1}
VARIANTS["leadins3"] = {"lead_ins": 3}
VARIANTS["noleadins"] = {"lead_ins": 0}
# the twenty-second round's: a brief whose `#` lines come in runs is a commented file
VARIANTS["comments"] = {"comment_runs": 0.5}
VARIANTS["nocomments"] = {"comment_runs": None}


def pypi_readmes() -> list[tuple[str, str]]:
    """A README stand-in with a training role only (the `usrdoc` genre has no training
    split): the long descriptions (METADATA bodies, mostly a project's README) of the
    packages installed beside briefmin, 150-4000 words, in name order. Never a bench genre."""
    from importlib import metadata

    docs = {}
    for dist in metadata.distributions():
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        name = dist.metadata.get("Name") or ""
        if 150 <= len(body.split()) <= 4000:
            docs.setdefault(name.lower(), body)
    return sorted(docs.items())


def usrdoc_deeper() -> list[tuple[str, str]]:
    """A second README stand-in for training: files of the `usrdoc` genre's kinds (README*,
    *.md, *.rst) deeper under /usr/share/doc (examples/README, nodejs/api/*.md, ...), which
    the genre (and so its held-out split) never reads: it takes only /usr/share/doc/*/*.
    A file whose text equals a genre document's is left out. 150-4000 words."""
    genre = {text for _, text in LOADERS["usrdoc"](Path())}
    top = set(USRDOC.glob("*/*"))
    return [(name, text) for name, text in usrdoc_files(
                p for p in sorted(USRDOC.rglob("*")) if p not in top)
            if 150 <= len(text.split()) <= 4000 and text not in genre]


# where `sysreadme` looks, besides /usr/share/doc/*/README.Debian*: system trees only (not
# /work, /tmp or /home, whose files change from one session to the next)
SYSREADME_ROOTS = ("/etc", "/usr", "/opt", "/root/.pyenv", "/root/.rustup")
# a file shipped once per Python version or Rust toolchain is read once (the first in order)
_SAME_FILE = re.compile(r"^/root/\.pyenv/versions/[^/]+/lib/python[^/]+/|"
                        r"^/root/\.rustup/toolchains/[^/]+/")


def system_readmes() -> list[tuple[str, str]]:
    """A third README stand-in for training (seventh round): README files that neither the
    `usrdoc` genre (/usr/share/doc/*/README*, *.md, *.rst, README.Debian left out) nor
    `usrdeep` (deeper under /usr/share/doc) reads: the README.Debian* of /usr/share/doc/*/,
    and README* files anywhere under SYSREADME_ROOTS outside /usr/share/doc (Python's and
    pyenv's, npm's, the Cloud SDK's vendored libraries', X11's, ALSA's, rustup's...). HTML
    left out; gzipped or not; each distinct content once, and once per path across Python
    versions and Rust toolchains; a text equal to a `usrdoc` or `usrdeep` document left out.
    150-4000 words, in path order."""
    held = {text for _, text in LOADERS["usrdoc"](Path())} | \
        {text for _, text in usrdoc_deeper()}
    name = re.compile(r"(?i)readme[^/]*$")
    docs, seen_raw, seen_path = [], set(), set()
    for root in SYSREADME_ROOTS:
        for path in sorted(Path(root).rglob("*")):
            text = str(path)
            in_doc = text.startswith(str(USRDOC) + "/")
            if in_doc and not (path.parent.parent == USRDOC
                               and path.name.lower().startswith("readme.debian")):
                continue
            if not name.match(path.name) or re.search(r"(?i)\.html?(\.gz)?$", path.name):
                continue
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                raw = path.read_bytes()
            except OSError:
                continue
            if path.suffix == ".gz":
                try:
                    raw = gzip.decompress(raw)
                except OSError:
                    continue
            key = _SAME_FILE.sub("", text)
            digest = hashlib.sha256(raw).hexdigest()
            if b"\0" in raw[:4096] or digest in seen_raw or key in seen_path:
                continue
            seen_raw.add(digest)
            seen_path.add(key)
            body = raw.decode("utf-8", "replace")
            if 150 <= len(body.split()) <= 4000 and body not in held:
                docs.append((text, body))
    return docs


def scores_of(originals: list[str], outputs: list[str],
              embed: Callable[[list[str]], np.ndarray], size: int) -> np.ndarray:
    vecs = pooled([*originals, *outputs], size, embed)
    n = len(originals)
    empty = np.array([not o.split() for o in outputs])
    return np.where(empty, 0.0, (vecs[:n] * vecs[n:]).sum(axis=1))


def judged(judge: str, originals: list[str], outputs: list[str], e5: VectorCache | None,
           minilm: VectorCache, tfidf: TfIdf | None = None) -> np.ndarray:
    """One score per document under the named judge ("e5", "minilm180", "minilm180x" or
    "tfidf"): the dispatch minify_before.py, minify_matched.py and the rule scripts share
    (those without e5 pass None)."""
    if not originals:
        return np.zeros(0)
    if judge == "e5" and e5 is not None:
        return scores_of(originals, outputs, e5.embed, E5_CHUNK_WORDS)
    if judge == "minilm180":
        return scores_of(originals, outputs, minilm.embed, MINILM_CHUNK_WORDS)
    if judge == "minilm180x":
        return offset_cosines(originals, outputs, minilm.embed, MINILM_CHUNK_WORDS)
    if judge == "tfidf" and tfidf is not None:
        return np.array([tfidf.kept(t, o) for t, o in zip(originals, outputs, strict=True)])
    raise ValueError(f"unknown judge {judge!r} (or no e5 or TF-IDF for it)")


def baseline_output(name: str, text: str, ratio: float) -> str:
    """What baseline `name` ("lead" or one of SUMMARIZERS) keeps of `text` at `ratio`."""
    if name == "lead":
        return lead_output(text, ratio)
    return SUMMARIZERS[name](text, word_budget(count_words(text), ratio))


def compare(path: Path, candidate: str, base: str) -> None:
    """Per genre group and judge: CANDIDATE - BASE per document (averaged over the ratios
    each document was measured at), with a paired bootstrap 95% interval (the noise of 20 or
    40 documents: the rule of bench/RESULTS.md's fifth round)."""
    rows: dict[tuple[str, str, str, float], dict[str, float]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for doc, score in zip(row["docs"], row["scores"], strict=True):
            rows.setdefault((row["judge"], row["variant"], row["genre"], row["ratio"]),
                            {})[doc] = score
    groups = {"readme stand-ins": ("usrdeep", "pypi"), "sysreadme+usrdeep": ("sysreadme",
                                                                            "usrdeep"),
              "kernel+debian": ("kernel", "debian"),
              **{g: (g,) for g in ("usrdeep", "pypi", "sysreadme", "kernel", "debian",
                                   "debshort", "manpages", "mantabs", "pydoc", "html")}}
    judges = sorted({k[0] for k in rows})
    print(f"{candidate} - {base}: mean per-document difference [95% paired bootstrap]\n")
    print("| documents | " + " | ".join(judges) + " |\n|---|" + "---|" * len(judges))
    for label, genres in groups.items():
        cells = []
        for judge in judges:
            per_doc: dict[tuple[str, str], list[float]] = {}
            for (j, variant, genre, ratio), scores in rows.items():
                if j != judge or variant != candidate or genre not in genres:
                    continue
                other = rows.get((j, base, genre, ratio), {})
                for doc, score in scores.items():
                    if doc in other:
                        per_doc.setdefault((genre, doc), []).append(score - other[doc])
            if not per_doc:
                cells.append("")
                continue
            mean, low, high = paired_bootstrap(np.array([np.mean(v)
                                                         for v in per_doc.values()]))
            cells.append(f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] n={len(per_doc)}")
        if any(cells):
            print(f"| {label} | " + " | ".join(cells) + " |")


STAND_INS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "pypi": pypi_readmes, "usrdeep": usrdoc_deeper, "sysreadme": system_readmes}


def training_docs(genre: str, n: int, data: Path) -> list[tuple[str, str]]:
    """The `n` training documents (name, text) every tuning script reads for a genre: a
    README stand-in, or the genre's training split (`usrdoc` has none), sampled with
    TRAIN_SEED."""
    train = STAND_INS[genre]() if genre in STAND_INS else split(genre, data)[1]
    return random.Random(TRAIN_SEED).sample(train, min(n, len(train)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--genres", nargs="+", default=list(TRAINABLE),
                        choices=[*TRAINABLE, *STAND_INS])
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--baselines", nargs="+", default=["lead"])
    parser.add_argument("--e5", action="store_true")
    parser.add_argument("--e5-variants", nargs="+",
                        help="what the e5 judge scores (default: every variant and lead)")
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    parser.add_argument("--save", type=Path,
                        help="append every per-document score to this JSON-lines file")
    parser.add_argument("--compare", nargs=2, metavar=("CANDIDATE", "BASE"),
                        help="only read --save's file: paired bootstrap of CANDIDATE - BASE")
    args = parser.parse_args()
    if args.compare:
        if args.save is None:
            parser.error("--compare reads the scores of --save FILE")
        compare(args.save, *args.compare)
        return
    encoder = load_encoder(BUNDLED_MODEL)
    minilm = MiniLmCache(encoder)
    e5 = E5Cache() if args.e5 else None
    judges: list[tuple[str, Callable[[list[str]], np.ndarray], int]] = [
        ("minilm180", minilm.embed, MINILM_CHUNK_WORDS)]
    if e5 is not None:
        judges.append(("e5", e5.embed, E5_CHUNK_WORDS))
    print(f"`{' '.join(sys.argv)}` (training splits, seed {TRAIN_SEED}, {args.n} docs per "
          "genre). Per judge: mean, mean minus lead's, share strictly above lead, share "
          "equal to lead's output.\n", flush=True)
    for genre in args.genres:
        docs = training_docs(genre, args.n, args.data)
        texts = [t for _, t in docs]
        # usrdoc has no training split: every eligible document is held out
        train = STAND_INS[genre]() if genre in STAND_INS else split(genre, args.data)[1]
        tfidf = TfIdf([t for _, t in train])
        for ratio in args.ratios:
            outs: dict[str, list[str]] = {}
            seconds: dict[str, float] = {}
            for name in args.variants:
                start = time.process_time()
                outs[name] = [r.text for r in minify_many(encoder, texts, ratio=ratio,
                                                          **VARIANTS[name])]
                seconds[name] = time.process_time() - start
            for name in dict.fromkeys(("lead", *args.baselines)):
                outs[name] = [baseline_output(name, text, ratio) for text in texts]
            table: dict[tuple[str, str], np.ndarray] = {}
            for judge, embed, size in judges:
                for name, o in outs.items():
                    if judge == "e5" and args.e5_variants and name not in args.e5_variants:
                        continue  # e5 is slow here: only what a decision needs
                    table[judge, name] = scores_of(texts, o, embed, size)
                    # one way for e5, as in bench_minify (fewer new chunks)
                    table[judge + "x", name] = offset_cosines(texts, o, embed, size,
                                                              both_ways=judge != "e5")
            for name, o in outs.items():
                table["tfidf", name] = np.array([tfidf.kept(t, x)
                                                 for t, x in zip(texts, o, strict=True)])
            if args.save is not None:
                with args.save.open("a") as saved:
                    for (judge, name), s in table.items():
                        saved.write(json.dumps({"genre": genre, "ratio": ratio, "judge": judge,
                                                "variant": name, "docs": [d for d, _ in docs],
                                                "scores": s.tolist()}) + "\n")
            names = [*[n for j, _, _ in judges for n in (j, j + "x")], "tfidf"]
            print(f"### {genre} {ratio}\n\n| variant | cpu s | "
                  + " | ".join(f"{j} mean | - lead | > lead" for j in names)
                  + " | = lead |\n|" + "---|" * (3 + 3 * len(names)))
            for name, o in outs.items():
                cells = [name, f"{seconds.get(name, 0):.1f}"]
                for j in names:
                    if (j, name) not in table:
                        cells += ["", "", ""]
                        continue
                    s, lead_s = table[j, name], table.get((j, "lead"))
                    cells += [f"{s.mean():.4f}", "", ""] if lead_s is None else [
                        f"{s.mean():.4f}", f"{s.mean() - lead_s.mean():+.4f}",
                        f"{np.mean(s > lead_s + EPS):.0%}"]
                ties = np.mean([a == b for a, b in zip(o, outs["lead"], strict=True)])
                cells.append(f"{ties:.0%}")
                print("| " + " | ".join(cells) + " |", flush=True)
            print()


if __name__ == "__main__":
    main()
