#include "CFleetSimSupport.h"
