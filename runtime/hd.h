#pragma once
// TW_HD marks a function whose body is the one definition of some piece of kernel math. Every compiler
// builds it for the host; when nvcc compiles the translation unit it is built for the device as well,
// so the CPU tests check exactly the arithmetic the GPU runs.
#if defined(__CUDACC__)
#define TW_HD __host__ __device__
#else
#define TW_HD
#endif
