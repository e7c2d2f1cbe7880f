#!/usr/bin/env python3
"""multiop.py: writes small multi-op float32 .tflite models shaped like third-party ones (what
TensorFlow's converter writes for Keras models: NHWC, OHWI conv weights, 1HWC depthwise weights,
fused activations, op versions, one buffer per tensor, dynamic-batch shape signatures, a
serving_default signature and min_runtime_version metadata), with seeded random but sensible
weights, for checking `kiln quantize` on models Kiln did not write. Python 3 stdlib only: the
FlatBuffer is written by the small builder below, not by Kiln.

Usage: multiop.py OUTDIR [--samples N] [--calib N] [--only NAME,...] [--list]
  OUTDIR/NAME.tflite        the float model
  OUTDIR/NAME.calib.npy     [N, ...] calibration samples of input 0 (--calib N, default 128)
  OUTDIR/NAME.in/sK_iJ.npy  test input J of sample K (--samples N, default 8), drawn from the
                            same distribution as the calibration samples
Same seed, same bytes, every run."""
import math
import os
import random
import struct
import sys

# ---------------------------------------------------------------- schema constants (schema.fbs)
F32, F16, I32, U8, I64 = 0, 1, 2, 3, 4
OP = dict(ADD=0, AVERAGE_POOL_2D=1, CONCATENATION=2, CONV_2D=3, DEPTHWISE_CONV_2D=4,
          FULLY_CONNECTED=9, LOGISTIC=14, MAX_POOL_2D=17, MUL=18, RELU=19, RESHAPE=22,
          SOFTMAX=25, TANH=28, PAD=34, GATHER=36, TRANSPOSE=39, MEAN=40, SUB=41, SQUEEZE=43,
          STRIDED_SLICE=45, SPLIT=49, PRELU=54, TRANSPOSE_CONV=67, EXPAND_DIMS=70, PACK=83,
          UNPACK=88, RESIZE_NEAREST_NEIGHBOR=97, LEAKY_RELU=98, HARD_SWISH=117,
          BATCH_MATMUL=126)
# BuiltinOptions union members in declaration order (type value = position + 1).
_UNION = ("Conv2DOptions DepthwiseConv2DOptions ConcatEmbeddingsOptions LSHProjectionOptions "
          "Pool2DOptions SVDFOptions RNNOptions FullyConnectedOptions SoftmaxOptions "
          "ConcatenationOptions AddOptions L2NormOptions LocalResponseNormalizationOptions "
          "LSTMOptions ResizeBilinearOptions CallOptions ReshapeOptions SkipGramOptions "
          "SpaceToDepthOptions EmbeddingLookupSparseOptions MulOptions PadOptions GatherOptions "
          "BatchToSpaceNDOptions SpaceToBatchNDOptions TransposeOptions ReducerOptions SubOptions "
          "DivOptions SqueezeOptions SequenceRNNOptions StridedSliceOptions ExpOptions "
          "TopKV2Options SplitOptions LogSoftmaxOptions CastOptions DequantizeOptions "
          "MaximumMinimumOptions ArgMaxOptions LessOptions NegOptions PadV2Options GreaterOptions "
          "GreaterEqualOptions LessEqualOptions SelectOptions SliceOptions TransposeConvOptions "
          "SparseToDenseOptions TileOptions ExpandDimsOptions EqualOptions NotEqualOptions "
          "ShapeOptions PowOptions ArgMinOptions FakeQuantOptions PackOptions LogicalOrOptions "
          "OneHotOptions LogicalAndOptions LogicalNotOptions UnpackOptions FloorDivOptions "
          "SquareOptions ZerosLikeOptions FillOptions BidirectionalSequenceLSTMOptions "
          "BidirectionalSequenceRNNOptions UnidirectionalSequenceLSTMOptions FloorModOptions "
          "RangeOptions ResizeNearestNeighborOptions LeakyReluOptions SquaredDifferenceOptions "
          "MirrorPadOptions AbsOptions SplitVOptions UniqueOptions ReverseV2Options AddNOptions "
          "GatherNdOptions CosOptions WhereOptions RankOptions ReverseSequenceOptions "
          "MatrixDiagOptions QuantizeOptions MatrixSetDiagOptions HardSwishOptions IfOptions "
          "WhileOptions DepthToSpaceOptions NonMaxSuppressionV4Options NonMaxSuppressionV5Options "
          "ScatterNdOptions SelectV2Options DensifyOptions SegmentSumOptions "
          "BatchMatMulOptions").split()
OPT = {n: i + 1 for i, n in enumerate(_UNION)}
ACT = dict(NONE=0, RELU=1, RELU_N1_TO_1=2, RELU6=3, TANH=4)
SAME, VALID = 0, 1


# ---------------------------------------------------------------- FlatBuffer builder
class Builder:
    """Back-to-front FlatBuffer builder: objects are prepended, an object's handle is its
    distance from the end of the buffer, so children are written before their parents."""

    def __init__(self):
        self.chunks, self.size = [], 0

    def _put(self, b):
        self.chunks.append(b)
        self.size += len(b)
        return self.size

    def prep(self, align, n):
        pad = (-(self.size + n)) % align
        if pad:
            self._put(b"\0" * pad)

    def _uoff(self, target):
        self.prep(4, 4)
        return self._put(struct.pack("<I", self.size + 4 - target))

    def string(self, s):
        b = s.encode() if isinstance(s, str) else s
        self.prep(4, len(b) + 1)
        self._put(b + b"\0")
        return self._put(struct.pack("<I", len(b)))

    def vec(self, fmt, vals, align=4):
        es = struct.calcsize("<" + fmt)
        self.prep(max(4, align, es), es * len(vals))
        self._put(struct.pack("<%d%s" % (len(vals), fmt), *vals))
        return self._put(struct.pack("<I", len(vals)))

    def bytes_vec(self, data, align=16):
        self.prep(max(4, align), len(data))
        self._put(bytes(data))
        return self._put(struct.pack("<I", len(data)))

    def offvec(self, offs):
        self.prep(4, 4 * len(offs))
        for o in reversed(offs):
            self._uoff(o)
        return self._put(struct.pack("<I", len(offs)))

    def table(self, fields):
        """fields: list of (slot, fmt, value); fmt 'off' for a child object handle. Scalars
        equal to their default must be left out by the caller (as flatc's builders do)."""
        start = self.size
        pos = {}
        order = sorted(fields, key=lambda f: -(4 if f[1] == "off" else struct.calcsize(f[1])))
        for slot, fmt, val in order:
            if fmt == "off":
                pos[slot] = self._uoff(val)
            else:
                sz = struct.calcsize("<" + fmt)
                self.prep(sz, sz)
                pos[slot] = self._put(struct.pack("<" + fmt, val))
        nslots = (max(pos) + 1) if pos else 0
        vlen = 4 + 2 * nslots
        self.prep(4, 4)
        t = self._put(struct.pack("<i", vlen))
        vt = [vlen, t - start] + [(t - pos[s]) if s in pos else 0 for s in range(nslots)]
        self._put(struct.pack("<%dH" % len(vt), *vt))
        return t

    def finish(self, root, ident=b"TFL3"):
        self.prep(16, 8)
        self._put(ident)
        self._uoff(root)
        return b"".join(reversed(self.chunks))


# ---------------------------------------------------------------- model description
class Model:
    def __init__(self, name, seed, dyn_batch=True):
        self.name = name
        self.R = random.Random(seed)
        self.dyn = dyn_batch
        self.tensors, self.buffers = [], [b""]
        self.ops, self.codes = [], []
        self.inputs, self.outputs = [], []
        self.in_dist = {}  # input index -> ("uniform", lo, hi) or ("int", lo, hi)
        self.k = 0

    # tensors
    def _tensor(self, name, shape, dtype, data, sig=None):
        self.buffers.append(data if data is not None else b"")
        self.tensors.append(dict(name=name, shape=list(shape), type=dtype,
                                 buffer=len(self.buffers) - 1, sig=sig))
        return len(self.tensors) - 1

    def act(self, shape, name=None, dtype=F32):
        """An activation tensor; batch dim dynamic in the signature like Keras models."""
        self.k += 1
        sig = ([-1] + list(shape[1:])) if (self.dyn and shape and shape[0] == 1) else None
        return self._tensor(name or "%s/t%d" % (self.name, self.k), shape, dtype, None, sig)

    def const(self, name, shape, vals, dtype=F32):
        fmt = {F32: "f", I32: "i", I64: "q"}[dtype]
        n = 1
        for d in shape:
            n *= d
        assert len(vals) == n, (name, shape, len(vals))
        return self._tensor("%s/%s" % (self.name, name), shape, dtype,
                            struct.pack("<%d%s" % (n, fmt), *vals))

    def ints(self, name, vals):
        return self.const(name, [len(vals)], list(vals), I32)

    def input(self, shape, dist=("uniform", -1.0, 1.0), dtype=F32, name=None):
        t = self.act(shape, name or "serving_default_input_%d:0" % (len(self.inputs) + 1), dtype)
        self.in_dist[len(self.inputs)] = dist
        self.inputs.append(t)
        return t

    def shape(self, t):
        return self.tensors[t]["shape"]

    def op(self, code, ins, outs, opt=None, fields=(), version=1):
        key = (OP[code], version)
        if key not in self.codes:
            self.codes.append(key)
        self.ops.append(dict(code=self.codes.index(key), ins=list(ins), outs=list(outs),
                             opt=opt, fields=list(fields)))
        return outs[0] if len(outs) == 1 else outs

    # random weights
    def uni(self, n, a):
        return [self.R.uniform(-a, a) for _ in range(n)]

    def weights(self, cout, per_out, fan_in, gain=1.41):
        """He-like init with a per-output-channel factor (as folded batch norms give), so that
        per-channel scales differ."""
        a = gain * math.sqrt(3.0 / fan_in)
        out = []
        for _ in range(cout):
            f = self.R.uniform(0.4, 1.6)
            out += [v * f for v in self.uni(per_out, a)]
        return out

    def bias(self, n, a=0.1):
        return self.uni(n, a)

    # layers (shapes computed the way TFLite does)
    @staticmethod
    def _osz(i, k, s, pad, d=1):
        ek = (k - 1) * d + 1
        return (i + s - 1) // s if pad == SAME else (i - ek + s) // s

    def conv(self, x, cout, k, s=1, pad=SAME, act="NONE", d=1, gain=1.41):
        kh, kw = (k, k) if isinstance(k, int) else k
        n, h, w, cin = self.shape(x)
        oh, ow = self._osz(h, kh, s, pad, d), self._osz(w, kw, s, pad, d)
        self.k += 1
        wt = self.const("conv%d/kernel" % self.k, [cout, kh, kw, cin],
                        self.weights(cout, kh * kw * cin, kh * kw * cin, gain))
        b = self.const("conv%d/bias" % self.k, [cout], self.bias(cout))
        y = self.act([n, oh, ow, cout])
        f = [(0, "b", pad), (1, "i", s), (2, "i", s)]
        if ACT[act]:
            f.append((3, "b", ACT[act]))
        if d != 1:
            f += [(4, "i", d), (5, "i", d)]
        return self.op("CONV_2D", [x, wt, b], [y], "Conv2DOptions", f, 1)

    def dw(self, x, k=3, s=1, pad=SAME, act="NONE", mult=1, d=1):
        n, h, w, cin = self.shape(x)
        cout = cin * mult
        oh, ow = self._osz(h, k, s, pad, d), self._osz(w, k, s, pad, d)
        self.k += 1
        # 1HWC: the channel is the last dim; per-channel factor along it.
        a = 1.41 * math.sqrt(3.0 / (k * k))
        fac = [self.R.uniform(0.4, 1.6) for _ in range(cout)]
        vals = [self.R.uniform(-a, a) * fac[i % cout] for i in range(k * k * cout)]
        wt = self.const("dw%d/depthwise_kernel" % self.k, [1, k, k, cout], vals)
        b = self.const("dw%d/bias" % self.k, [cout], self.bias(cout))
        y = self.act([n, oh, ow, cout])
        f = [(0, "b", pad), (1, "i", s), (2, "i", s), (3, "i", mult)]
        if ACT[act]:
            f.append((4, "b", ACT[act]))
        if d != 1:
            f += [(5, "i", d), (6, "i", d)]
        return self.op("DEPTHWISE_CONV_2D", [x, wt, b], [y], "DepthwiseConv2DOptions", f,
                       2 if d != 1 else 1)

    def fc(self, x, nout, act="NONE", keep=False, gain=1.41, bias=True):
        shp = self.shape(x)
        nin = shp[-1]
        self.k += 1
        wt = self.const("dense%d/kernel" % self.k, [nout, nin], self.weights(nout, nin, nin, gain))
        ins = [x, wt]
        ins.append(self.const("dense%d/bias" % self.k, [nout], self.bias(nout)) if bias else -1)
        if keep:
            oshape = shp[:-1] + [nout]
        else:
            rows = 1
            for d in shp[:-1]:
                rows *= d
            oshape = [rows, nout]
        y = self.act(oshape)
        f = []
        if ACT[act]:
            f.append((0, "b", ACT[act]))
        if keep:
            f.append((2, "b", 1))
        return self.op("FULLY_CONNECTED", ins, [y], "FullyConnectedOptions", f,
                       5 if keep else 1)

    def unary(self, code, x, version=1):
        return self.op(code, [x], [self.act(self.shape(x))], None, (), version)

    def binary(self, code, a, b, act="NONE"):
        sa, sb = self.shape(a), self.shape(b)
        r = max(len(sa), len(sb))
        sa, sb = [1] * (r - len(sa)) + sa, [1] * (r - len(sb)) + sb
        out = [max(p, q) for p, q in zip(sa, sb)]
        f = [(0, "b", ACT[act])] if ACT[act] else []
        opt = {"ADD": "AddOptions", "MUL": "MulOptions", "SUB": "SubOptions"}[code]
        return self.op(code, [a, b], [self.act(out)], opt, f, 1)

    def softmax(self, x, beta=1.0):
        return self.op("SOFTMAX", [x], [self.act(self.shape(x))], "SoftmaxOptions",
                       [(0, "f", beta)], 1)

    def reshape(self, x, shape):
        s = self.ints("reshape%d/shape" % (self.k + 1), shape)
        return self.op("RESHAPE", [x, s], [self.act(shape)], "ReshapeOptions",
                       [(0, "vi", list(shape))], 1)

    def mean(self, x, axes, keep=False):
        shp = self.shape(x)
        out = [(1 if i in axes else d) for i, d in enumerate(shp)] if keep else \
              [d for i, d in enumerate(shp) if i not in axes]
        a = self.ints("mean%d/axes" % (self.k + 1), axes)
        return self.op("MEAN", [x, a], [self.act(out)], "ReducerOptions",
                       [(0, "b", 1)] if keep else [], 1)

    def pool(self, code, x, k, s, pad=VALID, act="NONE"):
        kh, kw = (k, k) if isinstance(k, int) else k
        n, h, w, c = self.shape(x)
        y = self.act([n, self._osz(h, kh, s, pad), self._osz(w, kw, s, pad), c])
        f = [(0, "b", pad), (1, "i", s), (2, "i", s), (3, "i", kw), (4, "i", kh)]
        if ACT[act]:
            f.append((5, "b", ACT[act]))
        return self.op(code, [x], [y], "Pool2DOptions", f, 1)

    def concat(self, xs, axis, act="NONE"):
        shp = list(self.shape(xs[0]))
        ax = axis % len(shp)
        shp[ax] = sum(self.shape(t)[ax] for t in xs)
        f = [(0, "i", axis)] + ([(1, "b", ACT[act])] if ACT[act] else [])
        return self.op("CONCATENATION", xs, [self.act(shp)], "ConcatenationOptions", f, 1)

    def transpose(self, x, perm):
        shp = self.shape(x)
        p = self.ints("transpose%d/perm" % (self.k + 1), perm)
        return self.op("TRANSPOSE", [x, p], [self.act([shp[i] for i in perm])],
                       "TransposeOptions", [], 1)

    def pad(self, x, pads):
        shp = self.shape(x)
        p = self.const("pad%d/paddings" % (self.k + 1), [len(pads), 2],
                       [v for pr in pads for v in pr], I32)
        return self.op("PAD", [x, p], [self.act([d + a + b for d, (a, b) in zip(shp, pads)])],
                       "PadOptions", [], 1)

    def build(self):
        b = Builder()
        # buffers: the data vectors first (largest objects, 16-aligned like the converter's)
        bufs = []
        for data in self.buffers:
            bufs.append(b.table([(0, "off", b.bytes_vec(data))] if data else []))
        # metadata buffer: min_runtime_version, 16 bytes as TFLite writes it
        bufs.append(b.table([(0, "off", b.bytes_vec(b"1.14.0".ljust(16, b"\0")))]))
        meta_buf = len(bufs) - 1
        tens = []
        for t in self.tensors:
            f = [(0, "off", b.vec("i", t["shape"])), (3, "off", b.string(t["name"]))]
            if t["type"]:
                f.append((1, "b", t["type"]))
            if t["buffer"]:
                f.append((2, "I", t["buffer"]))
            if t["sig"]:
                f.append((7, "off", b.vec("i", t["sig"])))
            tens.append(b.table(f))
        ops = []
        for o in self.ops:
            f = [(0, "I", o["code"])] if o["code"] else []
            f += [(1, "off", b.vec("i", o["ins"])), (2, "off", b.vec("i", o["outs"]))]
            if o["opt"]:
                of = []
                for slot, fmt, val in o["fields"]:
                    of.append((slot, "off", b.vec("i", val)) if fmt == "vi" else (slot, fmt, val))
                f += [(3, "B", OPT[o["opt"]]), (4, "off", b.table(of))]
            ops.append(b.table(f))
        sg = b.table([(0, "off", b.offvec(tens)), (1, "off", b.vec("i", self.inputs)),
                      (2, "off", b.vec("i", self.outputs)), (3, "off", b.offvec(ops)),
                      (4, "off", b.string("main"))])
        codes = []
        for code, ver in self.codes:
            f = []
            if code:
                f += [(0, "b", min(code, 127)), (3, "i", code)]
            if ver != 1:
                f.append((2, "i", ver))
            codes.append(b.table(f))

        def tmap(idx):
            nm = self.tensors[idx]["name"].split(":")[0].replace("serving_default_", "")
            if nm == "StatefulPartitionedCall":
                nm = "output_%d" % self.outputs.index(idx)
            return b.table([(0, "off", b.string(nm))] + ([(1, "I", idx)] if idx else []))
        sig = b.table([(0, "off", b.offvec([tmap(i) for i in self.inputs])),
                       (1, "off", b.offvec([tmap(i) for i in self.outputs])),
                       (2, "off", b.string("serving_default"))])
        meta = b.table([(0, "off", b.string("min_runtime_version")), (1, "I", meta_buf)])
        root = b.table([(0, "I", 3), (1, "off", b.offvec(codes)), (2, "off", b.offvec([sg])),
                        (3, "off", b.string("MLIR Converted.")), (4, "off", b.offvec(bufs)),
                        (6, "off", b.offvec([meta])), (7, "off", b.offvec([sig]))])
        return b.finish(root)

    def output(self, t, name=None):
        self.tensors[t]["name"] = name or "StatefulPartitionedCall:%d" % len(self.outputs)
        self.outputs.append(t)


# ---------------------------------------------------------------- the models
def mbv2_block(m):
    x = m.input([1, 8, 8, 16])
    y = m.conv(x, 96, 1, act="RELU6")
    y = m.dw(y, 3, act="RELU6")
    y = m.conv(y, 16, 1, gain=0.7)
    y = m.binary("ADD", x, y)
    # a second, strided block without a residual
    y = m.conv(y, 64, 1, act="RELU6")
    y = m.dw(y, 3, s=2, act="RELU6")
    m.output(m.conv(y, 24, 1))


def se_block(m):
    x = m.input([1, 8, 8, 32])
    y = m.conv(x, 32, 3, act="RELU")
    s = m.mean(y, [1, 2])
    s = m.fc(s, 8, act="RELU")
    s = m.fc(s, 32)
    s = m.unary("LOGISTIC", s)
    s = m.reshape(s, [1, 1, 1, 32])
    m.output(m.binary("MUL", y, s))


def effnet_hswish(m):
    x = m.input([1, 16, 16, 3])
    y = m.unary("HARD_SWISH", m.conv(x, 16, 3, s=2))
    y = m.unary("HARD_SWISH", m.dw(y, 3))
    y = m.unary("HARD_SWISH", m.conv(y, 48, 1))
    y = m.mean(y, [1, 2])
    m.output(m.softmax(m.fc(y, 10)))


def unet_resize(m):
    x = m.input([1, 16, 16, 4])
    e1 = m.conv(x, 8, 3, act="RELU")
    p = m.pool("MAX_POOL_2D", e1, 2, 2)
    e2 = m.conv(p, 16, 3, act="RELU")
    size = m.ints("up/size", [16, 16])
    up = m.op("RESIZE_NEAREST_NEIGHBOR", [e2, size], [m.act([1, 16, 16, 16])],
              "ResizeNearestNeighborOptions", [], 1)
    c = m.concat([e1, up], 3)
    y = m.conv(c, 8, 3, act="RELU")
    m.output(m.conv(y, 2, 1))


def unet_tconv(m):
    x = m.input([1, 16, 16, 4])
    e1 = m.conv(x, 8, 3, act="RELU")
    p = m.pool("MAX_POOL_2D", e1, 2, 2)
    e2 = m.conv(p, 16, 3, act="RELU")
    osh = m.ints("up/output_shape", [1, 16, 16, 8])
    w = m.const("up/kernel", [8, 2, 2, 16], m.weights(8, 2 * 2 * 16, 2 * 2 * 16))
    b = m.const("up/bias", [8], m.bias(8))
    up = m.op("TRANSPOSE_CONV", [osh, w, e2, b], [m.act([1, 16, 16, 8])], "TransposeConvOptions",
              [(0, "b", SAME), (1, "i", 2), (2, "i", 2)], 3)
    c = m.concat([e1, up], 3)
    y = m.conv(c, 3, 1)
    m.output(m.unary("LOGISTIC", y))


def ds_cnn_kws(m):
    x = m.input([1, 49, 10, 1])
    y = m.conv(x, 32, (10, 4), s=2, act="RELU")
    for _ in range(2):
        y = m.dw(y, 3, act="RELU")
        y = m.conv(y, 32, 1, act="RELU")
    y = m.pool("AVERAGE_POOL_2D", y, (25, 5), 1)
    y = m.reshape(y, [1, 32])
    m.output(m.softmax(m.fc(y, 12)))


def attention(m):
    seq, d, heads = 8, 32, 4
    hd = d // heads
    x = m.input([1, seq, d])

    def proj(t):
        y = m.fc(t, d, keep=True, gain=1.0)
        y = m.reshape(y, [1, seq, heads, hd])
        return m.transpose(y, [0, 2, 1, 3])
    q, k, v = proj(x), proj(x), proj(x)
    s = m.op("BATCH_MATMUL", [q, k], [m.act([1, heads, seq, seq])], "BatchMatMulOptions",
             [(1, "b", 1)], 1)
    s = m.binary("MUL", s, m.const("scale", [], [1.0 / math.sqrt(hd)]))
    p = m.softmax(s)
    o = m.op("BATCH_MATMUL", [p, v], [m.act([1, heads, seq, hd])], "BatchMatMulOptions", [], 1)
    o = m.transpose(o, [0, 2, 1, 3])
    o = m.reshape(o, [1, seq, d])
    o = m.fc(o, d, keep=True, gain=1.0)
    m.output(m.binary("ADD", x, o))


def keras_pad_conv(m):
    x = m.input([1, 15, 15, 3])
    y = m.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)])
    y = m.conv(y, 16, 3, s=2, pad=VALID, act="RELU6")
    y = m.pad(y, [(0, 0), (1, 1), (1, 1), (0, 0)])
    y = m.dw(y, 3, s=2, pad=VALID, act="RELU6")
    m.output(m.conv(y, 8, 1))


def slice_split_pack(m):
    x = m.input([1, 6, 8, 8])
    y = m.conv(x, 16, 1, act="RELU")
    ax = m.const("split/axis", [], [3], I32)
    a, b = m.act([1, 6, 8, 8]), m.act([1, 6, 8, 8])
    m.op("SPLIT", [ax, y], [a, b], "SplitOptions", [(0, "i", 2)], 1)
    g = m.binary("MUL", a, m.unary("LOGISTIC", b))
    parts = [m.act([1, 8, 8]) for _ in range(6)]
    m.op("UNPACK", [g], parts, "UnpackOptions", [(0, "i", 6), (1, "i", 1)], 1)
    pk = m.op("PACK", parts[::-1], [m.act([1, 6, 8, 8])], "PackOptions",
              [(0, "i", 6), (1, "i", 1)], 1)
    be, en, st = m.ints("ss/begin", [0, 1, 0, 0]), m.ints("ss/end", [1, 5, 8, 8]), \
        m.ints("ss/strides", [1, 1, 2, 1])
    ss = m.op("STRIDED_SLICE", [pk, be, en, st], [m.act([1, 4, 4, 8])], "StridedSliceOptions",
              [], 1)
    m.output(ss)


def norm_input(m):
    x = m.input([1, 12, 12, 3], ("uniform", 0.0, 255.0))
    y = m.binary("SUB", x, m.const("norm/mean", [3], [123.7, 116.3, 103.5]))
    y = m.binary("MUL", y, m.const("norm/inv_std", [3], [1 / 58.4, 1 / 57.1, 1 / 57.4]))
    y = m.conv(y, 16, 3, act="RELU")
    y = m.pool("MAX_POOL_2D", y, 2, 2)
    y = m.conv(y, 32, 3, act="RELU")
    y = m.mean(y, [1, 2])
    m.output(m.fc(y, 5))


def leaky_prelu(m):
    x = m.input([1, 10, 10, 8])
    y = m.conv(x, 16, 3)
    y = m.op("LEAKY_RELU", [y], [m.act(m.shape(y))], "LeakyReluOptions", [(0, "f", 0.1)], 1)
    y = m.conv(y, 16, 3)
    al = m.const("prelu/alpha", [1, 1, 16], [m.R.uniform(0.05, 0.3) for _ in range(16)])
    y = m.op("PRELU", [y, al], [m.act(m.shape(y))], None, (), 1)
    m.output(m.conv(y, 4, 1))


def mlp(m):
    x = m.input([1, 64])
    y = m.fc(x, 128, act="RELU")
    y = m.fc(y, 64, act="RELU")
    m.output(m.softmax(m.fc(y, 10)))


def text_cls(m):
    vocab, dim, n = 50, 16, 16
    ids = m.input([1, n], ("int", 0, vocab - 1), I32)
    emb = m.const("embedding/embeddings", [vocab, dim], m.uni(vocab * dim, 1.0))
    e = m.op("GATHER", [emb, ids], [m.act([1, n, dim])], "GatherOptions", [], 1)
    y = m.mean(e, [1])
    y = m.fc(y, 16, act="RELU")
    m.output(m.softmax(m.fc(y, 3)))


def conv1d(m):
    x = m.input([1, 32, 6])
    ax = m.const("conv1d/ExpandDims/dim", [], [1], I32)
    y = m.op("EXPAND_DIMS", [x, ax], [m.act([1, 1, 32, 6])], "ExpandDimsOptions", [], 1)
    y = m.conv(y, 16, (1, 5), act="RELU")
    y = m.op("SQUEEZE", [y], [m.act([1, 32, 16])], "SqueezeOptions", [(0, "vi", [1])], 1)
    ax2 = m.const("conv1d_1/ExpandDims/dim", [], [1], I32)
    y = m.op("EXPAND_DIMS", [y, ax2], [m.act([1, 1, 32, 16])], "ExpandDimsOptions", [], 1)
    y = m.conv(y, 16, (1, 3), s=2, act="RELU")
    y = m.op("SQUEEZE", [y], [m.act([1, 16, 16])], "SqueezeOptions", [(0, "vi", [1])], 1)
    y = m.mean(y, [1])
    m.output(m.fc(y, 4))


def two_in_two_out(m):
    a = m.input([1, 20])
    img = m.input([1, 8, 8, 3], ("uniform", 0.0, 1.0))
    f = m.mean(m.conv(img, 8, 3, act="RELU"), [1, 2])
    g = m.fc(a, 8, act="RELU")
    t = m.fc(m.concat([g, f], 1), 16, act="RELU")
    m.output(m.softmax(m.fc(t, 4)), "StatefulPartitionedCall:0")
    m.output(m.fc(t, 1), "StatefulPartitionedCall:1")


def autoenc_tanh(m):
    x = m.input([1, 32])
    y = m.unary("TANH", m.fc(x, 64))
    y = m.fc(y, 8, act="RELU")
    y = m.fc(y, 64, act="RELU")
    m.output(m.unary("LOGISTIC", m.fc(y, 32)))


def res_dilated(m):
    x = m.input([1, 12, 12, 8])
    y = m.conv(x, 8, 3, act="RELU", d=2)
    y = m.conv(y, 8, 3, gain=0.7)
    y = m.binary("ADD", x, y, act="RELU")
    y = m.pool("AVERAGE_POOL_2D", y, 2, 2)
    y = m.dw(y, 3, mult=2, d=2, act="RELU")
    m.output(m.conv(y, 4, 1))


MODELS = [("mbv2_block", mbv2_block), ("se_block", se_block), ("effnet_hswish", effnet_hswish),
          ("unet_resize", unet_resize), ("unet_tconv", unet_tconv), ("ds_cnn_kws", ds_cnn_kws),
          ("attention", attention), ("keras_pad_conv", keras_pad_conv),
          ("slice_split_pack", slice_split_pack), ("norm_input", norm_input),
          ("leaky_prelu", leaky_prelu), ("mlp", mlp), ("text_cls", text_cls),
          ("conv1d", conv1d), ("two_in_two_out", two_in_two_out),
          ("autoenc_tanh", autoenc_tanh), ("res_dilated", res_dilated)]


# ---------------------------------------------------------------- inputs
def npy(path, dtype, shape, vals):
    descr, fmt = {F32: ("<f4", "f"), I32: ("<i4", "i")}[dtype]
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % d for d in shape) if len(shape) == 1 else
        ", ".join(str(d) for d in shape))
    pad = (-(10 + len(h) + 1)) % 64
    h = h + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode())
        f.write(struct.pack("<%d%s" % (len(vals), fmt), *vals))


def draw(R, dist, n):
    if dist[0] == "int":
        return [R.randint(dist[1], dist[2]) for _ in range(n)]
    # float32-exact values, so that every reader sees the same numbers
    return [struct.unpack("<f", struct.pack("<f", R.uniform(dist[1], dist[2])))[0]
            for _ in range(n)]


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        sys.exit(__doc__)
    if args[0] == "--list":
        print("\n".join(n for n, _ in MODELS))
        return
    out, samples, calib, only = args[0], 8, 128, None
    i = 1
    while i < len(args):
        if args[i] == "--samples":
            samples, i = int(args[i + 1]), i + 2
        elif args[i] == "--calib":
            calib, i = int(args[i + 1]), i + 2
        elif args[i] == "--only":
            only, i = set(args[i + 1].split(",")), i + 2
        else:
            sys.exit("multiop.py: unknown argument " + args[i])
    os.makedirs(out, exist_ok=True)
    for k, (name, fn) in enumerate(MODELS):
        if only and name not in only:
            continue
        m = Model(name, 20261125 + 101 * k)
        fn(m)
        with open(os.path.join(out, name + ".tflite"), "wb") as f:
            f.write(m.build())
        R = random.Random(7000 + k)
        t0 = m.tensors[m.inputs[0]]
        n0 = 1
        for d in t0["shape"]:
            n0 *= d
        npy(os.path.join(out, name + ".calib.npy"), t0["type"], [calib] + t0["shape"][1:],
            draw(R, m.in_dist[0], calib * n0))
        d = os.path.join(out, name + ".in")
        os.makedirs(d, exist_ok=True)
        for s in range(samples):
            for j, t in enumerate(m.inputs):
                tt = m.tensors[t]
                n = 1
                for dd in tt["shape"]:
                    n *= dd
                npy(os.path.join(d, "s%d_i%d.npy" % (s, j)), tt["type"], tt["shape"],
                    draw(R, m.in_dist[j], n))
    print("multiop.py: %d models -> %s" % (len(only) if only else len(MODELS), out))


if __name__ == "__main__":
    main()
