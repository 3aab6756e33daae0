# Compiler flags every tweedie target shares, and the switch that hands single-source kernel files to
# nvcc when the CUDA backend is on.
include(TweedieCompilerProbe)

set(_tw_cxx_warnings -Wall -Wextra -Wno-unknown-pragmas)
# Neither changes a result: we never read errno or floating-point exception flags. They let GCC
# vectorize loops with sqrtf, conversions and selects (see runtime/elementary.h).
set(_tw_fp_flags -fno-math-errno -fno-trapping-math)
set(_tw_prefix_map -ffile-prefix-map=${CMAKE_SOURCE_DIR}/=)  # error messages name project-relative files

# The instruction set of host code: the compiler's default (portable x86-64) unless TWEEDIE_NATIVE tunes
# it for the building machine. Either way the probe checks that the compiler gets it right and adds a
# workaround where it does not (tools/cmake/TweedieCompilerProbe.cmake).
set(_tw_arch_flags)
if(TWEEDIE_NATIVE)
  set(_tw_arch_flags -march=native)
endif()
tweedie_probe_host_flags(_tw_arch_flags)
list(JOIN _tw_arch_flags "," _tw_arch_flags_cuda)
list(JOIN _tw_arch_flags " " _tw_arch_flags_text)
message(STATUS "tweedie: host instruction set flags '${_tw_arch_flags_text}'")

function(tweedie_target_flags target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${_tw_cxx_warnings} ${_tw_fp_flags} ${_tw_prefix_map}>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-fopenmp,-fno-math-errno,-fno-trapping-math,${_tw_prefix_map}
                               --expt-relaxed-constexpr -Xcudafe=--display_error_number>)
  if(_tw_arch_flags)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${_tw_arch_flags}>
                                             $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${_tw_arch_flags_cuda}>)
  endif()
  if(TWEEDIE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  # Coverage instrumentation for libFuzzer everywhere; only the fuzz_* executables link libFuzzer's
  # main (-fsanitize=fuzzer, tools/fuzz/CMakeLists.txt).
  if(TWEEDIE_FUZZ)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# A single-source kernel file holds the per-element math once and a loop over it that runs on the host
# (OpenMP) or, when nvcc compiles the file, on the GPU. With the CUDA backend on, such files are compiled
# as CUDA so that both loops exist; otherwise g++ compiles them as ordinary C++.
function(tweedie_single_source)
  if(TWEEDIE_HAS_CUDA)
    set_source_files_properties(${ARGN} DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTIES LANGUAGE CUDA)
  endif()
endfunction()
