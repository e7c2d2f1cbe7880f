/* kiln.h: the public API of libkiln, the toolkit (training, data, conversion, quantization,
 * reports). Each part has its own header; this one includes them all. */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include "kiln/kiln_rt.h"
#include "kiln/convert.h"
#include "kiln/data.h"
#include "kiln/json.h"
#include "kiln/npy.h"
#include "kiln/pool.h"
#include "kiln/report.h"
#include "kiln/sha256.h"
#include "kiln/train.h"

#endif
