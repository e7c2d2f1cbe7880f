#!/usr/bin/env python3
"""pack.py: packs the oracle outputs of many single-op cases into one compact golden file
(tests/golden/bulk/<set>.gold, gzip), for tests/test_golden_bulk.c. Used by regen.sh --bulk.

Usage: pack.py LIST MODELS_DIR OUT.gold
  LIST: `kiln opmodel --list` lines (NAME KIND OP N_INPUTS); MODELS_DIR/<NAME>/ holds
  model.tflite, input_K.npy, litert/output_K.npy and tflm/output_K.npy (either may be absent).

File format (all little-endian, the whole file gzip-compressed):
  "KGOLD2\\0\\0", u32 case count, then per case:
    u8 name length, name,
    32 bytes sha256 of model.tflite and 32 bytes sha256 of input_0.npy, input_1.npy, ...
      concatenated (so the test knows that `kiln opmodel` still builds what the oracles ran:
      other inputs make the goldens stale; another model byte layout only matters if the
      results change),
    u8 flags: 1 = TFLite Micro outputs follow, 2 = official runtime outputs follow,
      4 = the official runtime gave the same bytes as TFLite Micro (its block is left out),
    then the blocks (TFLite Micro first): u8 output count, per output u8 TensorType,
      u8 rank, u32 dims[rank], u32 byte count, the bytes.
Models and inputs are not stored: the test rebuilds them from the case file."""
import ast
import gzip
import hashlib
import os
import struct
import sys

TT = {"<f4": 0, "<f2": 1, "<i4": 2, "|u1": 3, "<i8": 4, "|b1": 6, "<i2": 7, "|i1": 9, "<f8": 10,
      "<u8": 12, "<u4": 15, "<u2": 16}


def read_npy(path):
    with open(path, "rb") as f:
        b = f.read()
    if b[:6] != b"\x93NUMPY":
        raise ValueError("%s: not .npy" % path)
    if b[6] == 1:
        hl, hs = struct.unpack("<H", b[8:10])[0], 10
    else:
        hl, hs = struct.unpack("<I", b[8:12])[0], 12
    h = ast.literal_eval(b[hs:hs + hl].decode("latin1"))
    if h["fortran_order"]:
        raise ValueError("%s: Fortran order" % path)
    return TT[h["descr"]], tuple(h["shape"]), b[hs + hl:]


def outputs(d):
    if not os.path.isdir(d):
        return None
    k, res = 0, []
    while os.path.exists(os.path.join(d, "output_%d.npy" % k)):
        res.append(read_npy(os.path.join(d, "output_%d.npy" % k)))
        k += 1
    return res or None


def block(outs):
    b = struct.pack("<B", len(outs))
    for tt, shape, data in outs:
        b += struct.pack("<BB", tt, len(shape)) + b"".join(struct.pack("<I", d) for d in shape)
        b += struct.pack("<I", len(data)) + data
    return b


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    lst, models, out = sys.argv[1:]
    recs = []
    for line in open(lst):
        if not line.strip():
            continue
        name = line.split()[0]
        d = os.path.join(models, name)
        tfl, lit = outputs(os.path.join(d, "tflm")), outputs(os.path.join(d, "litert"))
        if tfl is None and lit is None:
            continue
        with open(os.path.join(d, "model.tflite"), "rb") as f:
            hm = hashlib.sha256(f.read())
        h = hashlib.sha256()
        k = 0
        while os.path.exists(os.path.join(d, "input_%d.npy" % k)):
            with open(os.path.join(d, "input_%d.npy" % k), "rb") as f:
                h.update(f.read())
            k += 1
        flags = (1 if tfl else 0) | (2 if lit else 0)
        body = b""
        if tfl:
            body += block(tfl)
        if lit:
            if tfl and block(lit) == block(tfl):
                flags |= 4
            else:
                body += block(lit)
        nb = name.encode()
        recs.append(struct.pack("<B", len(nb)) + nb + hm.digest() + h.digest() +
                    struct.pack("<B", flags) + body)
    raw = b"KGOLD2\0\0" + struct.pack("<I", len(recs)) + b"".join(recs)
    tmp = out + ".tmp"
    # mtime=0: the same goldens give the same bytes.
    with open(tmp, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as g:
            g.write(raw)
    os.replace(tmp, out)
    print("pack.py: %d cases -> %s (%d bytes)" % (len(recs), out, os.path.getsize(out)))


main()
