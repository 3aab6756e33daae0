# Compiler flags every tweedie target shares, and the switch that hands single-source kernel files to
# nvcc when the CUDA backend is on.

set(_tw_cxx_warnings -Wall -Wextra -Wno-unknown-pragmas)
# Neither changes a result: we never read errno or floating-point exception flags. They let GCC
# vectorize loops with sqrtf, conversions and selects (see runtime/elementary.h).
set(_tw_fp_flags -fno-math-errno -fno-trapping-math)
set(_tw_prefix_map -ffile-prefix-map=${CMAKE_SOURCE_DIR}/=)  # error messages name project-relative files

function(tweedie_target_flags target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${_tw_cxx_warnings} ${_tw_fp_flags} ${_tw_prefix_map}>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-fopenmp,-fno-math-errno,-fno-trapping-math,${_tw_prefix_map}
                               --expt-relaxed-constexpr -Xcudafe=--display_error_number>)
  if(TWEEDIE_NATIVE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-march=native>
                                             $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-march=native>)
  endif()
  if(TWEEDIE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
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
