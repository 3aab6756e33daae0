# Checks, at configure time, that the host compiler gets right what tweedie's flags ask of it.
#
# tweedie_probe_host_flags(FLAGS_VAR) compiles and runs probes/wide_constant_store.cpp with -O3 and the
# flags in ${FLAGS_VAR}. Where the compiler miscompiles it (GCC 12.2 with AVX-512: see the probe), the
# known workarounds are appended to ${FLAGS_VAR} one after the other until the probe passes:
# -mno-avx512f, then -mtune=generic, since the tuning of the newer AVX-512 CPUs (Ice Lake server,
# Sapphire Rapids) makes GCC 12.2 store 256-bit constants the same broken way with AVX2 alone. A build
# that is still wrong stops here rather than produce silently different numbers. Results are cached per
# compiler and flag set. Cross builds, whose probes cannot run, are not checked.

function(_tweedie_run_wide_constant_probe flags result_var)
  string(MAKE_C_IDENTIFIER "${CMAKE_CXX_COMPILER_ID}_${CMAKE_CXX_COMPILER_VERSION}_${flags}" key)
  set(cache_var TWEEDIE_PROBE_WIDE_CONSTANT_${key})
  if(NOT DEFINED ${cache_var})
    try_run(run_rc compile_ok ${CMAKE_BINARY_DIR}/probes
            ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/probes/wide_constant_store.cpp
            COMPILE_DEFINITIONS -O3 ${flags}
            CXX_STANDARD 20
            COMPILE_OUTPUT_VARIABLE compile_log
            RUN_OUTPUT_VARIABLE run_log)
    if(NOT compile_ok)
      message(FATAL_ERROR "tweedie: the compiler probe did not build with '${flags}':\n${compile_log}")
    endif()
    if(run_rc STREQUAL "0")
      set(${cache_var} PASS CACHE INTERNAL "")
    else()
      string(STRIP "${run_log}" run_log)
      string(REPLACE "\n" "; " run_log "${run_log}")
      set(${cache_var} "FAIL: ${run_log}" CACHE INTERNAL "")
    endif()
  endif()
  set(${result_var} "${${cache_var}}" PARENT_SCOPE)
endfunction()

function(tweedie_probe_host_flags flags_var)
  if(CMAKE_CROSSCOMPILING)
    return()
  endif()
  set(flags ${${flags_var}})
  _tweedie_run_wide_constant_probe("${flags}" result)
  if(result STREQUAL "PASS")
    return()
  endif()
  list(JOIN flags " " flags_text)
  message(WARNING "tweedie: ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} with '${flags_text}' miscompiles "
                  "wide constant stores (tools/cmake/probes/wide_constant_store.cpp):\n${result}\n"
                  "Trying -mno-avx512f, then -mtune=generic; the library's own loops then use AVX2 at most.")
  foreach(workaround -mno-avx512f -mtune=generic)
    list(APPEND flags ${workaround})
    _tweedie_run_wide_constant_probe("${flags}" result)
    if(result STREQUAL "PASS")
      break()
    endif()
  endforeach()
  list(JOIN flags " " flags_text)
  if(NOT result STREQUAL "PASS")
    message(FATAL_ERROR "tweedie: '${flags_text}' still miscompiles the probe:\n${result}\n"
                        "Configure with -DTWEEDIE_NATIVE=OFF, or use another compiler.")
  endif()
  message(STATUS "tweedie: host flags '${flags_text}' pass the wide constant store probe")
  set(${flags_var} ${flags} PARENT_SCOPE)
endfunction()
