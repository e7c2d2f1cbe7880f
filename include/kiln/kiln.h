/* kiln.h: the public API of libkiln, the toolkit (training, data, conversion, quantization,
 * reports). Each part has its own header; this one includes them all. */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include "kiln/kiln_rt.h"
#include "kiln/npy.h"

#endif
