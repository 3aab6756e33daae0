#include "samplers/operators/operator.h"
