#include "samplers/noise/likelihood.h"
