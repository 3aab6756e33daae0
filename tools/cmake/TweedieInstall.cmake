# What `cmake --install` puts under the prefix, for programs that embed tweedie:
#   lib/libtweedie.so, lib/libtweedie.a     the shared and the static library (same objects)
#   include/tweedie/tweedie.h               the C API
#   include/tweedie/{runtime,...}/*.h       the C++ API (include "runtime/tensor.h" etc.)
#   lib/cmake/tweedie/                      find_package(tweedie CONFIG): tweedie::tweedie (shared),
#                                           tweedie::tweedie_static, tweedie_HAS_CUDA
#   lib/pkgconfig/tweedie.pc                pkg-config tweedie (--static for the static library)
#   share/tweedie/                          the demo's learned prior, and the examples' sources
set(_tw_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tweedie)

install(TARGETS tweedie_shared EXPORT tweedieTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tweedie EXPORT tweedieStaticTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/tools/capi/tweedie.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tweedie)
foreach(folder runtime kernels nn samplers io)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/${folder} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tweedie FILES_MATCHING PATTERN "*.h")
endforeach()

install(EXPORT tweedieTargets NAMESPACE tweedie:: DESTINATION ${_tw_cmake_dir})
install(EXPORT tweedieStaticTargets NAMESPACE tweedie:: DESTINATION ${_tw_cmake_dir})
include(CMakePackageConfigHelpers)
configure_package_config_file(${CMAKE_SOURCE_DIR}/tools/cmake/tweedieConfig.cmake.in ${CMAKE_BINARY_DIR}/tweedieConfig.cmake
                              INSTALL_DESTINATION ${_tw_cmake_dir} PATH_VARS CMAKE_INSTALL_DATADIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/tweedieConfigVersion.cmake COMPATIBILITY SameMinorVersion)
# The static library's consumers find its dependencies with the same modules the build used.
install(FILES ${CMAKE_BINARY_DIR}/tweedieConfig.cmake ${CMAKE_BINARY_DIR}/tweedieConfigVersion.cmake
              ${CMAKE_SOURCE_DIR}/tools/cmake/FindOpenBLAS.cmake ${CMAKE_SOURCE_DIR}/tools/cmake/FindFFTW3f.cmake
              ${CMAKE_SOURCE_DIR}/tools/cmake/FindONEDNN.cmake ${CMAKE_SOURCE_DIR}/tools/cmake/FindCUDNN.cmake
        DESTINATION ${_tw_cmake_dir})

# pkg-config: the C API needs only -ltweedie; --static adds what libtweedie.a pulls in.
set(TWEEDIE_PC_CUDA no)
# The libraries found at configure time, by path: they carry Debian's multiarch and HDF5 flavour folders.
set(_tw_private ${OpenBLAS_LIBRARY} ${FFTW3f_OMP_LIBRARY} ${FFTW3f_LIBRARY} ${HDF5_C_LIBRARIES} ${PNG_LIBRARIES} ${ZLIB_LIBRARIES})
if(TWEEDIE_HAS_ONEDNN)
  list(APPEND _tw_private ${ONEDNN_LIBRARY})
endif()
if(TWEEDIE_HAS_CUDA)
  set(TWEEDIE_PC_CUDA yes)
  list(APPEND _tw_private ${CUDNN_LIBRARY} -L${CUDAToolkit_LIBRARY_DIR} -lcublas -lcufft -lcudart)
endif()
list(APPEND _tw_private -lstdc++ -lm -fopenmp)
list(JOIN _tw_private " " TWEEDIE_PC_PRIVATE)
set(TWEEDIE_HAS_CUDA_NUM 0)
set(TWEEDIE_HAS_ONEDNN_NUM 0)
if(TWEEDIE_HAS_CUDA)
  set(TWEEDIE_HAS_CUDA_NUM 1)
endif()
if(TWEEDIE_HAS_ONEDNN)
  set(TWEEDIE_HAS_ONEDNN_NUM 1)
endif()
file(RELATIVE_PATH TWEEDIE_PC_UP /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" TWEEDIE_PC_UP "${TWEEDIE_PC_UP}")
configure_file(${CMAKE_SOURCE_DIR}/tools/cmake/tweedie.pc.in ${CMAKE_BINARY_DIR}/tweedie.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/tweedie.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${CMAKE_SOURCE_DIR}/tools/demo/phantom_unet.h5 DESTINATION ${CMAKE_INSTALL_DATADIR}/tweedie)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/tools/examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tweedie/examples)
