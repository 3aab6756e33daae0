#include "kernels/count_noise.h"
