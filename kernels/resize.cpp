#include "kernels/resize.h"
