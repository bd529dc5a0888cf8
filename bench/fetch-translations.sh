#!/usr/bin/env bash
# The Chinese translations of the Linux kernel docs, for minify's `kernelzh` probe genre
# (bench/minify_eval.py) and bench/bench_cjk.py: Documentation/translations/{zh_CN,zh_TW}
# of Debian's linux-doc-6.1, the package whose English docs ../shared/data/fetch-corpora.sh
# leaves as `linux-doc`
# (it skips the translations).
#   bench/fetch-translations.sh DIR      -> DIR/linux-doc-translations/{zh_CN,zh_TW}/**/*.rst
# Idempotent: skipped when DIR/linux-doc-translations is there.
set -euo pipefail
out=${1:?usage: fetch-translations.sh DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ -d $out/linux-doc-translations ]] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lists=$work/lists
mkdir -p "$lists/partial"
apt_opts=(-o "Dir::State::Lists=$lists" -o "Acquire::Languages=en" -o "APT::Sandbox::User=root" -qq)
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" download linux-doc-6.1 >/dev/null)
dpkg-deb -x "$work"/linux-doc-6.1_*.deb "$work/deb"
src=$work/deb/usr/share/doc/linux-doc-6.1/Documentation/translations
for lang in zh_CN zh_TW; do
  (cd "$src" && find "$lang" -name '*.rst.gz') | while read -r f; do
    mkdir -p "$work/linux-doc-translations/$(dirname "$f")"
    gunzip -c "$src/$f" >"$work/linux-doc-translations/${f%.gz}"
  done
done
mv "$work/linux-doc-translations" "$out/linux-doc-translations"
echo "kernel doc translations in $out/linux-doc-translations: $(find "$out/linux-doc-translations" -name '*.rst' | wc -l) files"
