#!/usr/bin/env bash
# Installs what building and testing tweedie needs, from Debian's packages. Idempotent and quiet: when
# everything is present it changes nothing and prints one line. Run as root, or with sudo available.
# The CUDA toolkit is not a Debian package here; install NVIDIA's to build the GPU backend.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libhdf5-dev hdf5-tools          # HDF5 C library; h5dump/h5ls for looking at files
  libopenblas-openmp-dev          # OpenBLAS threaded with OpenMP, like our own loops
  libfftw3-dev                    # FFTW3 single precision with its OpenMP threads library
  libdnnl-dev                     # oneDNN: the host convolution kernels
  libpng-dev nlohmann-json3-dev libcli11-dev doctest-dev
  zlib1g-dev                      # inflate for deflated .npz entries
  gfortran                        # the Fortran example of the C API (tools/examples)
  libopenmpi-dev openmpi-bin      # MPI: solve and sample over many ranks (mpirun)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
