#include "kernels/image_filter.h"
