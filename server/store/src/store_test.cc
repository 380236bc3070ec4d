#include "khronika/store/store.h"
