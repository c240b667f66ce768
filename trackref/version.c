#include "silk/silk.h"

const char *silk_version(void) { return SILK_VERSION; }
