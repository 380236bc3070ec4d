#include "khronika/log/log.h"
