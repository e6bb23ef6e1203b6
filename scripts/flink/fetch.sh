#!/usr/bin/env bash
# Builds Beam's Flink job server from Maven Central into the cache folder
# (`make flink`; `make test` runs it too). Idempotent: a finished build is
# kept and reused. Exit code 0 with the jar's path on stdout; non-zero with
# one line on stderr when Java, Maven or Maven Central cannot be had (the
# Flink tests then skip and say why).
#   DV_FLINK_CACHE  the cache folder (default ~/.cache/beam-data-validation/flink)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
beam="$(sed -n 's:.*<beam.version>\(.*\)</beam.version>.*:\1:p' "$here/pom.xml")"
flink="$(sed -n 's:.*<flink.minor>\(.*\)</flink.minor>.*:\1:p' "$here/pom.xml")"
cache="${DV_FLINK_CACHE:-$HOME/.cache/beam-data-validation/flink}"
out="$cache/beam-$beam"
jar="$out/beam-runners-flink-$flink-job-server-$beam.jar"
if [ -f "$out/.complete" ] && [ -f "$jar" ]; then
  echo "$jar"
  exit 0
fi
command -v java >/dev/null || { echo "flink: java not found (needs Java 11 or 17)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "flink: mvn not found (needs Apache Maven)" >&2; exit 1; }
echo "flink: building the Beam $beam job server for Flink $flink from Maven Central into $out ..." >&2
tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
log="$(mktemp)"
if ! mvn -B -q -f "$here/pom.xml" package -Dout.dir="$tmp" >"$log" 2>&1; then
  echo "flink: the job server could not be built: $(grep -m1 -E 'ERROR|Could not' "$log" || tail -n1 "$log")" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
rm -rf "$out"
mv "$tmp" "$out"
rm -rf "$out/build"
touch "$out/.complete"
echo "flink: $(du -sh "$out" | cut -f1) in $out" >&2
echo "$jar"
