#!/usr/bin/env bash
# News articles, for minify's `news` probe genre (bench/minify_eval.py): plain prose of a
# genre no tuning read, judged like the others.
#   bench/fetch-news.sh DIR -> DIR/news/lee_background.cor (300 Australian news articles,
#                              one per line: the Lee corpus's background documents)
#                              DIR/news/lee.cor (its 50 similarity-test documents; the genre
#                              reads only lee_background.cor)
# Both come from gensim 4.4.0's wheel (gensim/test/test_data), downloaded with pip.
# Idempotent: skipped when both files are there.
set -euo pipefail
out=${1:?usage: fetch-news.sh DIR}
files=(lee_background.cor lee.cor)
if [[ -s $out/news/lee_background.cor && -s $out/news/lee.cor ]]; then
  echo "news corpus in $out/news: already there"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "fetch-news.sh: failed at line $LINENO (pip download gensim==4.4.0 or its" \
          "extraction; pip said: $(tail -n 1 "$work/pip.log" 2>/dev/null))" >&2' ERR
# the wheel (~28 MB) holds the test data on every platform: any wheel will do, never the sdist
python3 -m pip download -q --no-deps --only-binary=:all: -d "$work" gensim==4.4.0 \
  >"$work/pip.log" 2>&1
wheel=$(find "$work" -maxdepth 1 -name 'gensim-4.4.0-*.whl' | head -n 1)
[[ -n $wheel ]] || { echo "fetch-news.sh: pip downloaded no gensim 4.4.0 wheel" >&2; exit 1; }
python3 - "$wheel" "$work/news" "${files[@]}" <<'EOF'
import pathlib, sys, zipfile
wheel, dest, names = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
dest.mkdir(parents=True)
with zipfile.ZipFile(wheel) as z:
    for name in names:
        (dest / name).write_bytes(z.read(f"gensim/test/test_data/{name}"))
EOF
mkdir -p "$out"
rm -rf "$out/news"
mv "$work/news" "$out/news"
echo "news corpus in $out/news: $(grep -c . "$out/news/lee_background.cor") articles in" \
     "lee_background.cor, $(grep -c . "$out/news/lee.cor") in lee.cor"
