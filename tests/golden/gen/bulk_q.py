#!/usr/bin/env python3
"""bulk_q.py: writes the case files of the packed integer goldens, tests/golden/bulk/<set>.txt:
hundreds of random single-op cases per (op, dtype) for every integer kernel, with a share of
edge cases (zero points at the limits, scale ratios that give shifts near 31, big biases,
size-1 dims, inputs at the ends of the range). Seeded: the same files come out every time.
Usage: gen/bulk_q.py [N per op and dtype (default 200)] [--out DIR (default ../bulk)]
Then: tests/golden/regen.sh --bulk (runs the oracles and writes <set>.gold).

Conv-family cases reuse gen/conv_q.py's case makers with edge-widened helpers."""
import contextlib
import math
import os
import random
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_q  # noqa: E402

R = random.Random(20261125 + 400)
TY = {"i8": (-128, 127), "u8": (0, 255), "i16": (-32768, 32767)}
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def g(x):
    return "%.9g" % f32(x)


def fmt(s):
    return "[" + ",".join(str(d) for d in s) + "]"


def edge():
    return R.random() < 0.25


def shape(rank_lo=1, rank_hi=4, dim_hi=6):
    r = R.randint(rank_lo, rank_hi)
    if R.random() < 0.15:  # size-1 dims
        return [R.choice([1, 1, R.randint(1, dim_hi)]) for _ in range(r)]
    return [R.randint(1, dim_hi) for _ in range(r)]


def zp(dt):
    if dt == "i16":
        return 0
    lo, hi = TY[dt]
    if edge():
        return R.choice([lo, hi, lo + 1, hi - 1, 0])
    return R.randint(lo + 20, hi - 20) if dt == "u8" else R.randint(-100, 100)


def scale(lo=0.004, hi=0.1):
    if edge():  # log-uniform over a wide range: multipliers far from 1, big shifts
        return f32(math.exp(R.uniform(math.log(1e-4), math.log(2.0))))
    return f32(round(R.uniform(lo, hi), 6))


def qs(s, z):
    return "q(%s,%d)" % (g(s), z)


def q(dt, lo=0.004, hi=0.1):
    return qs(scale(lo, hi), zp(dt))


def gen(dt):
    """Input data: mostly the full range (the default), sometimes piled at one end."""
    if dt == "f32" or not edge():
        return ""
    lo, hi = TY[dt]
    w = (hi - lo) // 32
    return R.choice([" rand(%d,%d)" % (lo, lo + w), " rand(%d,%d)" % (hi - w, hi),
                     " rand(%d,%d)" % (lo, lo + 1), " rand(%d,%d)" % (hi - 1, hi)])


def bcast_pair():
    out = shape(1, 5 if R.random() < 0.1 else 4)
    a, b = list(out), list(out)
    for i in range(len(out)):
        r = R.random()
        if r < 0.25:
            a[i] = 1
        elif r < 0.5:
            b[i] = 1
    if R.random() < 0.3:
        k = R.randint(0, len(b) - 1)
        b = b[k:]
        a[:k] = out[:k]
    if R.random() < 0.5:
        a, b = b, a
    return a, b, out


VER = {  # (op, dtype) -> operator version
    "ADD": {"i8": 2, "i16": 3, "u8": 1}, "SUB": {"i8": 2, "i16": 3, "u8": 1},
    "MUL": {"i8": 2, "i16": 5, "u8": 1}, "MAXIMUM": {"i8": 2, "i16": 4, "u8": 1},
    "MINIMUM": {"i8": 2, "i16": 4, "u8": 1}, "AVERAGE_POOL_2D": {"i8": 2, "i16": 3, "u8": 1},
    "MAX_POOL_2D": {"i8": 2, "i16": 3, "u8": 1}, "MEAN": {"i8": 2, "i16": 3, "u8": 1},
    "SUM": {"i8": 2, "i16": 2, "u8": 1}, "SOFTMAX": {"i8": 2, "i16": 3, "u8": 1},
    "LOGISTIC": {"i8": 2, "i16": 3, "u8": 1}, "TANH": {"i8": 2, "i16": 3, "u8": 1},
    "LEAKY_RELU": {"i8": 1, "i16": 2, "u8": 1}, "HARD_SWISH": {"i8": 1, "u8": 1},
    "RELU": {"i8": 2, "i16": 3, "u8": 1}, "RELU6": {"i8": 2, "i16": 3, "u8": 1},
    "RELU_N1_TO_1": {"i8": 1, "u8": 1}, "DEQUANTIZE": {"i8": 2, "i16": 4, "u8": 1},
}


def binary(name, op, dt):
    a, b, out = bcast_pair()
    v = VER[op][dt]
    if op in ("MAXIMUM", "MINIMUM"):
        qq = q(dt)
        print("%s %s v%d ; in a %s%s%s %s ; in b %s%s%s %s ; out y %s%s %s" % (
            name, op, v, dt, fmt(a), gen(dt), qq, dt, fmt(b), gen(dt), qq, dt, fmt(out), qq))
        return
    opts = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[op]
    act = R.choice(ACTS[:3]) if dt != "u8" else R.choice(ACTS)
    print("%s %s v%d ; in a %s%s%s %s ; in b %s%s%s %s ; out y %s%s %s ; opts %s 0:i8=%s" % (
        name, op, v, dt, fmt(a), gen(dt), q(dt), dt, fmt(b), gen(dt), q(dt), dt, fmt(out),
        q(dt, 0.01, 0.2), opts, act))


def pool(name, op, dt):
    n, h, w, c = R.randint(1, 2), R.randint(1, 9), R.randint(1, 9), R.randint(1, 5)
    fh, fw = R.randint(1, min(h + 1, 4)), R.randint(1, min(w + 1, 4))
    sh, sw = R.randint(1, 3), R.randint(1, 3)
    pad = "SAME" if fh > h or fw > w else R.choice(["SAME", "VALID"])
    if pad == "SAME":
        oh, ow = (h + sh - 1) // sh, (w + sw - 1) // sw
    else:
        oh, ow = (h - fh + sh) // sh, (w - fw + sw) // sw
    qq = q(dt)
    print("%s %s v%d ; in x %s[%d,%d,%d,%d]%s %s ; out y %s[%d,%d,%d,%d] %s ; "
          "opts Pool2DOptions 0:i8=%s 1:i32=%d 2:i32=%d 3:i32=%d 4:i32=%d 5:i8=%s" % (
              name, op, VER[op][dt], dt, n, h, w, c, gen(dt), qq, dt, n, oh, ow, c, qq, pad, sw,
              sh, fw, fh, R.choice(ACTS)))


def reduce_(name, op, dt):
    s = shape(1, 4, 6)
    axes = sorted(R.sample(range(len(s)), R.randint(1, len(s))))
    if R.random() < 0.2:  # negative axes
        axes = [a - len(s) if R.random() < 0.5 else a for a in axes]
    keep = R.random() < 0.5
    ax = [a % len(s) for a in axes]
    out = [1 if i in ax else d for i, d in enumerate(s)] if keep else \
        [d for i, d in enumerate(s) if i not in ax]
    if op == "MEAN" and dt != "i16" and R.random() < 0.2:
        qo = qi = q(dt)  # same quantization: TFLite's own fast path
    else:
        qi, qo = q(dt), q(dt)
    print("%s %s v%d ; in x %s%s%s %s ; const axes i32[%d] vals(%s) ; out y %s%s %s ; "
          "opts ReducerOptions 0:bool=%s" % (name, op, VER[op][dt], dt, fmt(s), gen(dt), qi,
                                             len(axes), ",".join(map(str, axes)), dt, fmt(out),
                                             qo, "true" if keep else "false"))


def unary(name, op, dt, qin, qout, opts=""):
    s = shape(1, 4, 8)
    print("%s %s v%d ; in x %s%s%s %s ; out y %s%s %s%s" % (
        name, op, VER[op][dt], dt, fmt(s), gen(dt), qin, dt, fmt(s), qout,
        (" ; opts " + opts) if opts else ""))


def sig_out(op, dt):
    if dt == "i16":
        return "q(3.05175781e-05,0)"
    if op == "LOGISTIC":
        return "q(0.00390625,%d)" % (-128 if dt == "i8" else 0)
    return "q(0.0078125,%d)" % (0 if dt == "i8" else 128)


def in_scale_sig(dt):
    if dt == "i16":
        # int16 LOGISTIC/TANH: TFLite's general-scale path; also the power-of-two scales.
        if R.random() < 0.3:
            return f32(2.0 ** R.randint(-15, -10))
        return f32(math.exp(R.uniform(math.log(2e-5), math.log(8e-4))))
    return scale(0.002, 0.1) if R.random() < 0.8 else f32(R.uniform(0.05, 0.5))


def elementwise_set(dt, n):
    for k in range(n):
        p = "bq_%s_" % dt
        for op in ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"):
            binary("%s%s_%d" % (p, op.lower(), k), op, dt)
        for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            pool("%s%s_%d" % (p, op.lower(), k), op, dt)
        for op in ("MEAN", "SUM"):
            if dt == "i16" and op == "SUM":
                continue
            reduce_("%s%s_%d" % (p, op.lower(), k), op, dt)
        zi = zp(dt)
        if dt == "i16":
            so = "q(3.05175781e-05,0)"
        else:
            so = "q(0.00390625,%d)" % (-128 if dt == "i8" else 0)
        unary("%ssoftmax_%d" % (p, k), "SOFTMAX", dt, qs(scale(0.002, 0.2), zi), so,
              "SoftmaxOptions 0:f32=%g" % R.choice([1.0, 1.0, 0.5, 2.0, 0.1, 3.0]))
        if dt == "i8":
            # int8 in, int16 out (TFLite's output zero point -32768, scale 1/65536).
            s = shape(1, 4, 8)
            print("%ssoftmax_i16out_%d SOFTMAX v3 ; in x i8%s%s %s ; out y i16%s "
                  "q(1.52587891e-05,-32768) ; opts SoftmaxOptions 0:f32=%g" % (
                      p, k, fmt(s), gen(dt), qs(scale(0.002, 0.2), zp(dt)), fmt(s),
                      R.choice([1.0, 0.5, 2.0])))
        for op in ("LOGISTIC", "TANH"):
            unary("%s%s_%d" % (p, op.lower(), k), op, dt, qs(in_scale_sig(dt), zp(dt)),
                  sig_out(op, dt))
        unary("%sleaky_relu_%d" % (p, k), "LEAKY_RELU", dt, q(dt), q(dt),
              "LeakyReluOptions 0:f32=%g" % R.choice([round(R.uniform(0.01, 0.5), 3),
                                                     round(R.uniform(0.5, 2.0), 3), 0.0]))
        acts = ("RELU", "RELU6") if dt == "i16" else ("RELU", "RELU6", "RELU_N1_TO_1")
        for op in acts:
            qi = q(dt)
            qo = qi if R.random() < 0.3 else q(dt)
            unary("%s%s_%d" % (p, op.lower(), k), op, dt, qi, qo)
        if dt != "i16":
            unary("%shard_swish_%d" % (p, k), "HARD_SWISH", dt, q(dt), q(dt, 0.01, 0.1))
        # QUANTIZE from float, requantize, DEQUANTIZE.
        s = shape(1, 4, 8)
        lim = R.choice([1, 3, 10])
        print("%squantize_f32_%d QUANTIZE v%d ; in x f32%s rand(%d,%d) ; out y %s%s %s" % (
            p, k, {"i8": 1, "u8": 1, "i16": 2}[dt], fmt(s), -lim, lim, dt, fmt(s),
            q(dt, 0.005, 0.05)))
        targets = {"i8": ["i8", "u8", "i16"], "u8": ["u8", "i8"], "i16": ["i8", "i16"]}[dt]
        to = targets[k % len(targets)]
        qi, qo = q(dt), q(to)
        print("%srequantize_%s_%d QUANTIZE v%d ; in x %s%s%s %s ; out y %s%s %s" % (
            p, to, k, 2 if dt == to or "i16" in (dt, to) else 1, dt, fmt(s), gen(dt), qi, to,
            fmt(s), qo))
        print("%sdequantize_%d DEQUANTIZE v%d ; in x %s%s%s %s ; out y f32%s" % (
            p, k, VER["DEQUANTIZE"][dt], dt, fmt(s), gen(dt), q(dt), fmt(s)))


def shape_set(n):
    """Integer shape ops: CONCATENATION (which requantizes inputs with other scales), PAD,
    TRANSPOSE, STRIDED_SLICE, RESHAPE, in int8, int16 and uint8."""
    for k, dt in ((k, dt) for k in range(n) for dt in ("i8", "i16", "u8")):
        p = "bq_sh_"
        # CONCATENATION: inputs may carry other quantizations than the output.
        s = shape(1, 4, 5)
        axis = R.randint(-len(s), len(s) - 1)
        ni = R.randint(1, 4)
        parts, qo = [], q(dt)
        tot = 0
        for i in range(ni):
            t = list(s)
            t[axis] = R.randint(1, 4)
            tot += t[axis]
            qi = qo if (dt == "i16" or R.random() < 0.4) else q(dt)
            parts.append("in x%d %s%s%s %s" % (i, dt, fmt(t), gen(dt), qi))
        o = list(s)
        o[axis] = tot
        act = "NONE"  # TFLite's quantized CONCATENATION refuses fused activations
        print("%sconcat_%s_%d CONCATENATION v%d ; %s ; out y %s%s %s ; "
              "opts ConcatenationOptions 0.axis:i32=%d 1.fused:i8=%s" % (
                  p, dt, k, {"i8": 2, "i16": 3, "u8": 1}[dt], " ; ".join(parts), dt, fmt(o), qo,
                  axis, act))
        # PAD (pads with the zero point).
        s = shape(1, 4, 5)
        pads = [R.randint(0, 2) for _ in range(2 * len(s))]
        o = [d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(s)]
        qq = q(dt)
        print("%spad_%s_%d PAD v%d ; in x %s%s%s %s ; const p i32[%d,2] vals(%s) ; "
              "out y %s%s %s" % (p, dt, k, {"i8": 3, "i16": 4, "u8": 1}[dt], dt, fmt(s), gen(dt),
                                 qq, len(s), ",".join(map(str, pads)), dt, fmt(o), qq))
        # TRANSPOSE.
        s = shape(1, 5 if R.random() < 0.2 else 4, 5)
        perm = list(range(len(s)))
        R.shuffle(perm)
        o = [s[i] for i in perm]
        print("%stranspose_%s_%d TRANSPOSE v%d ; in x %s%s %s ; const p i32[%d] vals(%s) ; "
              "out y %s%s %s" % (p, dt, k, 5 if len(s) == 5 else 2, dt, fmt(s), qq, len(s),
                                 ",".join(map(str, perm)), dt, fmt(o), qq))
        # STRIDED_SLICE (positive strides; masks).
        s = shape(1, 4, 7)
        b, e, st, o = [], [], [], []
        for d in s:
            stp = R.choice([1, 1, 2, 3])
            lo = R.randint(0, d - 1)
            hi = R.randint(lo + 1, d)
            b.append(lo)
            e.append(hi)
            st.append(stp)
            o.append((hi - lo + stp - 1) // stp)
        print("%sslice_%s_%d STRIDED_SLICE v%d ; in x %s%s %s ; const b i32[%d] vals(%s) ; "
              "const e i32[%d] vals(%s) ; const s i32[%d] vals(%s) ; out y %s%s %s ; "
              "opts StridedSliceOptions 0.begin_mask:i32=0 1.end_mask:i32=0" % (
                  p, dt, k, {"i8": 2, "i16": 4, "u8": 1}[dt], dt, fmt(s), qq, len(s),
                  ",".join(map(str, b)), len(s), ",".join(map(str, e)), len(s),
                  ",".join(map(str, st)), dt, fmt(o), qq))


# ---- conv family: conv_q.py's case makers with edge-widened helpers ----
_act_q, _out_scale, _bias = conv_q.act_q, conv_q.out_scale, conv_q.bias


def act_q_edge(dt):
    s, z = _act_q(dt)
    if dt != "i16" and R.random() < 0.2:
        z = R.choice(TY[dt])  # zero point at a limit
    if R.random() < 0.1:
        s = f32(math.exp(R.uniform(math.log(1e-4), math.log(1.0))))
    return s, z


def out_scale_edge(dt, in_s, w_s, depth):
    s = _out_scale(dt, in_s, w_s, depth)
    if R.random() < 0.12:
        # Requantization multipliers far below one (right shifts near 31) or above one
        # (left shifts up to 6; TFLite refuses more).
        worst = max(in_s * w for w in w_s)
        if R.random() < 0.5:
            s = f32(worst * 2.0 ** R.uniform(12, 26))
        else:
            s = f32(max(worst / 60.0, min(w_s) * in_s * 2.0 ** -R.uniform(0, 5)))
    return s


def bias_edge(dt, n, in_s, w_s, kind):
    if kind in ("i32", "i64") and R.random() < 0.15:
        scales = [f32(in_s * w) for w in w_s]
        qq = "q([%s],0,dim=0)" % ",".join(g(x) for x in scales) if len(scales) > 1 else \
            "q(%s,0)" % g(scales[0])
        lim = (1 << 30) if (kind == "i32" or dt != "i16") else (1 << 40)
        lim = R.choice([lim, lim // 8])
        return "const b %s[%d] rand(%d,%d) %s" % (kind, n, -lim, lim, qq)
    return _bias(dt, n, in_s, w_s, kind)


def conv_set(dts, n, ops):
    conv_q.R = R
    conv_q.act_q, conv_q.out_scale, conv_q.bias = act_q_edge, out_scale_edge, bias_edge
    for op in ops:
        for dt in dts:
            if op == "tconv" and dt == "hyb":
                continue
            if op == "bmm" and dt == "u8":
                continue
            for i in range(n):
                name = "bq_%s_%s_%d" % (op, dt, i)
                if op == "conv":
                    print(conv_q.conv_case(name, dt, False))
                elif op == "dw":
                    print(conv_q.conv_case(name, dt, True))
                elif op == "fc":
                    print(conv_q.fc_case(name, dt))
                elif op == "tconv":
                    print(conv_q.tconv_case(name, dt))
                else:
                    print(conv_q.bmm_case(name, dt))


def main():
    args = sys.argv[1:]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bulk")
    if "--out" in args:
        i = args.index("--out")
        out = args[i + 1]
        del args[i:i + 2]
    n = int(args[0]) if args else 200
    os.makedirs(out, exist_ok=True)
    sets = [("ew_i8", lambda: elementwise_set("i8", n)),
            ("ew_i16", lambda: elementwise_set("i16", n)),
            ("ew_u8", lambda: elementwise_set("u8", n)),
            ("shape_q", lambda: shape_set(n)),
            ("conv_i8", lambda: conv_set(["i8"], n, ["conv", "dw", "fc", "tconv", "bmm"])),
            ("conv_i16", lambda: conv_set(["i16"], n, ["conv", "dw", "fc", "tconv", "bmm"])),
            ("conv_u8", lambda: conv_set(["u8"], n, ["conv", "dw", "fc", "tconv"])),
            ("conv_hyb", lambda: conv_set(["hyb"], n, ["conv", "dw", "fc", "bmm"]))]
    for name, fn in sets:
        # One random stream per set: adding cases to one set leaves the others as they were.
        R.seed(20261125 + zlib.crc32(name.encode()))
        with open(os.path.join(out, name + ".txt"), "w") as f, contextlib.redirect_stdout(f):
            print("# %s.txt: written by tests/golden/gen/bulk_q.py %d (seeded); do not edit." % (
                name, n))
            print("# Goldens: %s.gold (tests/golden/regen.sh --bulk). Format: docs/opmodel.md."
                  % name)
            fn()


main()
