# Finds OpenBLAS built with OpenMP threading (Debian: libopenblas-openmp-dev). The OpenMP build matters:
# a GEMM called inside one of our OpenMP regions then runs on one thread instead of oversubscribing the
# cores, and its thread count follows ours. Debian installs that build beside the pthread one, in
# directories named openblas-openmp; we look there first. Provides OpenBLAS::OpenBLAS.
set(_tw_arch ${CMAKE_LIBRARY_ARCHITECTURE})
set(_tw_lib_dirs)
set(_tw_inc_dirs)
foreach(prefix ${CMAKE_PREFIX_PATH} $ENV{CMAKE_PREFIX_PATH} /usr/local /usr)
  list(APPEND _tw_lib_dirs ${prefix}/lib/${_tw_arch}/openblas-openmp)
  list(APPEND _tw_inc_dirs ${prefix}/include/${_tw_arch}/openblas-openmp)
endforeach()
find_library(OpenBLAS_LIBRARY NAMES openblas PATHS ${_tw_lib_dirs} NO_DEFAULT_PATH)
find_path(OpenBLAS_INCLUDE_DIR cblas.h PATHS ${_tw_inc_dirs} NO_DEFAULT_PATH)
# Any other OpenBLAS works too, with the oversubscription caveat above.
find_library(OpenBLAS_LIBRARY NAMES openblas)
find_path(OpenBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenBLAS REQUIRED_VARS OpenBLAS_LIBRARY OpenBLAS_INCLUDE_DIR)
if(OpenBLAS_FOUND AND NOT TARGET OpenBLAS::OpenBLAS)
  add_library(OpenBLAS::OpenBLAS UNKNOWN IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES IMPORTED_LOCATION ${OpenBLAS_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${OpenBLAS_INCLUDE_DIR})
  message(STATUS "OpenBLAS: ${OpenBLAS_LIBRARY}")
endif()
