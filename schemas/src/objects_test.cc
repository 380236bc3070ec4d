#include "khronika/schemas/status.h"
