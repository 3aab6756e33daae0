#include "kernels/coil.h"
