#!/usr/bin/env bash
# Installs a build into a temporary prefix and uses it as a program outside tweedie would: the examples
# (C and Fortran) through find_package(tweedie), the C example again through pkg-config, and a C++
# program on tweedie::tweedie_static. Both examples must print the same figures, and the posterior mean
# must beat the zero-filled image.
#   test_install.sh BUILD_DIR EXPECT_CUDA(yes|no) C++_SOURCE
set -euo pipefail
build=$1 expect_cuda=$2 cxx_source=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "test_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install failed"; }
for f in include/tweedie/tweedie.h include/tweedie/runtime/tensor.h include/tweedie/samplers/posterior/solve.h \
         lib/cmake/tweedie/tweedieConfig.cmake lib/pkgconfig/tweedie.pc share/tweedie/phantom_unet.h5; do
  [ -f "$prefix/$f" ] || fail "$f is not installed"
done
ls "$prefix"/lib/libtweedie.so* "$prefix"/lib/libtweedie.a >/dev/null || fail "the libraries are not installed"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --variable=cuda tweedie)" = "$expect_cuda" ] || fail "pkg-config says cuda=$(pkg-config --variable=cuda tweedie), expected $expect_cuda"
prior=$(pkg-config --variable=demo_prior tweedie)
[ -f "$prior" ] || fail "pkg-config's demo_prior $prior does not exist"

cmake -S "$prefix/share/tweedie/examples" -B "$tmp/examples" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configuring the examples failed"; }
grep -q "CUDA backend $( [ "$expect_cuda" = yes ] && echo ON || echo OFF )" "$tmp/configure.log" || fail "tweedie_HAS_CUDA is wrong"
cmake --build "$tmp/examples" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building the examples failed"; }

cc -std=c99 "$prefix/share/tweedie/examples/mri_solve.c" $(pkg-config --cflags --libs tweedie) -lm -Wl,-rpath,"$prefix/lib" \
  -o "$tmp/mri_solve_pkgconfig" || fail "building the C example with pkg-config failed"

"$tmp/examples/mri_solve" "$prior" 2 50 | tee "$tmp/c.txt"
"$tmp/examples/mri_solve_fortran" "$prior" 2 50 | tee "$tmp/fortran.txt"
"$tmp/mri_solve_pkgconfig" "$prior" 2 50 >"$tmp/pkgconfig.txt"
# Line 1 names the language; the figures after it must agree to the printed digits.
diff <(tail -n +2 "$tmp/c.txt") <(tail -n +2 "$tmp/fortran.txt") || fail "C and Fortran examples differ"
diff "$tmp/c.txt" "$tmp/pkgconfig.txt" || fail "the pkg-config build differs"
awk '/zero-filled PSNR/ {z = $3} /posterior mean/ {p = $(NF - 6)} END {
       if (p == "" || z == "" || p < z + 5) { print "test_install: posterior PSNR " p " is not 5 dB above zero-filled " z; exit 1 } }' "$tmp/c.txt"

# The C++ API on the static library, as a C++ code embedding tweedie would use it.
mkdir -p "$tmp/cxx"
cp "$cxx_source" "$tmp/cxx/main.cpp"
cat >"$tmp/cxx/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(cxx_consumer LANGUAGES C CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(tweedie CONFIG REQUIRED)
if(NOT TARGET tweedie::tweedie_static)
  message(FATAL_ERROR "tweedie::tweedie_static is missing")
endif()
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE tweedie::tweedie_static)
CMAKE
cmake -S "$tmp/cxx" -B "$tmp/cxx/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cxx.log" 2>&1 &&
  cmake --build "$tmp/cxx/build" >>"$tmp/cxx.log" 2>&1 || { cat "$tmp/cxx.log"; fail "the C++ consumer of tweedie::tweedie_static failed to build"; }
"$tmp/cxx/build/consumer" "$prior" || fail "the C++ consumer failed"
echo "test_install: ok"
