# Finds oneDNN (Debian: libdnnl-dev; the library was called DNNL and MKL-DNN before). Provides
# ONEDNN::ONEDNN. We look for the header and library ourselves rather than use the package's CMake
# config, which also wants the OpenCL development files for a GPU runtime tweedie does not use.
find_path(ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
find_library(ONEDNN_LIBRARY dnnl)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ONEDNN REQUIRED_VARS ONEDNN_LIBRARY ONEDNN_INCLUDE_DIR)
if(ONEDNN_FOUND AND NOT TARGET ONEDNN::ONEDNN)
  add_library(ONEDNN::ONEDNN UNKNOWN IMPORTED)
  set_target_properties(ONEDNN::ONEDNN PROPERTIES IMPORTED_LOCATION ${ONEDNN_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${ONEDNN_INCLUDE_DIR})
endif()
