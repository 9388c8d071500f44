#!/bin/sh
# Fetch the console's browser assets once from the npm registry, at pinned versions, into
# app/static/vendor/<package>/ with their licences. The results are committed: nothing is
# fetched at build or run time. Re-run only to change a version (then commit the diff).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/app/static/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# package@version  file inside the package  name it gets here
ASSETS="htmx.org@2.0.4 dist/htmx.min.js htmx.min.js
chart.js@4.4.7 dist/chart.umd.js chart.umd.js"

echo "$ASSETS" | while read -r spec file name; do
    package=${spec%@*}
    (cd "$WORK" && npm pack --silent "$spec" >/dev/null)
    tarball=$(ls "$WORK"/*.tgz)
    mkdir -p "$WORK/unpacked" "$DEST/$package"
    tar -xzf "$tarball" -C "$WORK/unpacked"
    cp "$WORK/unpacked/package/$file" "$DEST/$package/$name"
    cp "$WORK/unpacked/package/LICENSE"* "$DEST/$package/LICENSE"
    echo "$spec" > "$DEST/$package/VERSION"
    (cd "$DEST/$package" && sha256sum "$name" > "$name.sha256")
    rm -rf "$WORK/unpacked" "$tarball"
    echo "vendored $spec -> app/static/vendor/$package/$name"
done
