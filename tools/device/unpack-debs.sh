#!/usr/bin/env bash
# Unpacks carried .deb files into a private prefix (never over /), and makes the Debian-only library
# folders visible to CMake and the loader. Prints the variables to export.
set -euo pipefail
src=${1:-.debs}
prefix=${2:-/opt/twdeps}
mkdir -p "$prefix"
for f in "$src"/*.deb; do dpkg -x "$f" "$prefix"; done
# Debian's alternatives links (cblas.h, libblas.so) are made at install time, not by dpkg -x; our
# FindOpenBLAS looks in the openblas-openmp folders directly, so none are needed.
lib="$prefix/usr/lib/x86_64-linux-gnu"
echo "unpacked $(ls -1 "$src"/*.deb | wc -l) packages into $prefix"
echo "export CMAKE_PREFIX_PATH=$prefix/usr LD_LIBRARY_PATH=$lib:$lib/openblas-openmp:$lib/hdf5/serial:\${LD_LIBRARY_PATH:-}"
