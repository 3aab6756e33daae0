# Finds single-precision FFTW3 and its OpenMP threading library. Provides FFTW3f::FFTW3f.
find_path(FFTW3f_INCLUDE_DIR fftw3.h)
find_library(FFTW3f_LIBRARY NAMES fftw3f)
find_library(FFTW3f_OMP_LIBRARY NAMES fftw3f_omp)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(FFTW3f REQUIRED_VARS FFTW3f_LIBRARY FFTW3f_OMP_LIBRARY FFTW3f_INCLUDE_DIR)
if(FFTW3f_FOUND AND NOT TARGET FFTW3f::FFTW3f)
  add_library(FFTW3f::FFTW3f INTERFACE IMPORTED)
  set_target_properties(FFTW3f::FFTW3f PROPERTIES
    INTERFACE_LINK_LIBRARIES "${FFTW3f_OMP_LIBRARY};${FFTW3f_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES ${FFTW3f_INCLUDE_DIR})
endif()
