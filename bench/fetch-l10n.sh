#!/usr/bin/env bash
# Briefs in European languages other than English, for minify's `l10n` and `kernelit` probe
# genres (bench/minify_eval.py): what the bundled English model was never trained to read,
# judged by the multilingual e5.
#   bench/fetch-l10n.sh DIR -> DIR/debian-l10n/{de,es,fr,it}/PACKAGE.txt (Debian bookworm's
#                              translated package descriptions, Translation-de/-es/-fr/-it,
#                              the long description as fetch-corpora.sh writes the English)
#                              DIR/linux-doc-l10n/it_IT/**/*.rst (the kernel docs' Italian
#                              translations in Debian's linux-doc-6.1)
# Idempotent: each part is skipped when its folder is there.
set -euo pipefail
out=${1:?usage: fetch-l10n.sh DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lists=$work/lists
mkdir -p "$lists/partial"
apt_opts=(-o "Dir::State::Lists=$lists" -o "Acquire::Languages=de,es,fr,it"
          -o "APT::Sandbox::User=root" -qq)
apt-get "${apt_opts[@]}" update >/dev/null

if [[ ! -d $out/debian-l10n ]]; then
  python3 - "$lists" "$work/debian-l10n" <<'EOF'
import pathlib, re, subprocess, sys
lists, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for lang in ("de", "es", "fr", "it"):
    (dest / lang).mkdir(parents=True)
    text = ""
    for f in sorted(lists.glob(f"*Translation-{lang}*")):
        raw = f.read_bytes()
        for tool in (["lz4", "-dc"], ["xz", "-dc"], ["gzip", "-dc"]):
            try:
                raw = subprocess.run(tool, input=raw, capture_output=True, check=True).stdout
                break
            except (OSError, subprocess.CalledProcessError):
                continue
        text += raw.decode("utf-8", "replace") + "\n"
    seen = set()
    for stanza in text.split("\n\n"):
        pkg = re.search(r"^Package: (.+)$", stanza, re.M)
        desc = re.search(rf"^Description-{lang}: (.*)\n((?: .*\n?)*)", stanza, re.M)
        if not pkg or not desc or pkg.group(1) in seen:
            continue
        seen.add(pkg.group(1))
        body = "\n".join("" if l.strip() == "." else l[1:] for l in desc.group(2).splitlines())
        if body.strip():
            name = re.sub(r"[^A-Za-z0-9.+-]", "_", pkg.group(1)) + ".txt"
            (dest / lang / name).write_text(body.strip() + "\n")
    print(f"debian-l10n/{lang}: {len(seen)} descriptions")
EOF
  mv "$work/debian-l10n" "$out/debian-l10n"
fi

if [[ ! -d $out/linux-doc-l10n ]]; then
  (cd "$work" && apt-get "${apt_opts[@]}" download linux-doc-6.1 >/dev/null)
  dpkg-deb -x "$work"/linux-doc-6.1_*.deb "$work/deb"
  src=$work/deb/usr/share/doc/linux-doc-6.1/Documentation/translations
  (cd "$src" && find it_IT -name '*.rst.gz') | while read -r f; do
    mkdir -p "$work/linux-doc-l10n/$(dirname "$f")"
    gunzip -c "$src/$f" >"$work/linux-doc-l10n/${f%.gz}"
  done
  mv "$work/linux-doc-l10n" "$out/linux-doc-l10n"
fi
echo "l10n corpora in $out: $(find "$out/debian-l10n" -type f | wc -l) descriptions," \
     "$(find "$out/linux-doc-l10n" -type f | wc -l) Italian kernel docs"
