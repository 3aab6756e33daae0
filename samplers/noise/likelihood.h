#pragma once
#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"
