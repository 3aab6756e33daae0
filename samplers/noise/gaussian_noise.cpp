#include "samplers/noise/noise_model.h"
