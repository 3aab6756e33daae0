#!/usr/bin/env bash
# Downloads (does not install) the Debian packages a tweedie build needs, to carry them to a GPU machine
# that reaches no package registry. Usage, in the project root: tools/device/pack-debs.sh .debs
# Then, on the GPU machine: bash .debs/unpack-debs.sh .debs /opt/twdeps (see README.md here).
set -euo pipefail
dest=${1:-.debs}
mkdir -p "$dest"
# Headers and link libraries, and the shared libraries they load (Debian 12 names).
pkgs="libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libcurl4 libssl3
      libopenblas-openmp-dev libopenblas0-openmp libgfortran5 libgomp1
      libfftw3-dev libfftw3-single3 libfftw3-double3
      libpng-dev libpng16-16 zlib1g-dev
      doctest-dev libcli11-dev nlohmann-json3-dev"
cd "$dest"
for p in $pkgs; do apt-get download "$p" >/dev/null 2>&1 || echo "pack-debs: could not download $p" >&2; done
cp "$(dirname "$(readlink -f "$0")")"/unpack-debs.sh .
echo "pack-debs: $(ls -1 ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in $dest"
