#!/usr/bin/env python3
"""Writes tests/golden/bulk/misc_q.txt: random single-op integer cases (int8/uint8/int16) for the
ops of TFLite's float list that have integer kernels beyond those of elementwise_q/conv_q
(comparisons, SQUARED_DIFFERENCE, RSQRT, LOG_SOFTMAX, L2_NORMALIZATION, PRELU, ELU, GELU, EXP,
ABS, reductions, RESIZE_*, CONCATENATION/PACK, PAD, quantize/dequantize pairs, data movement).
Seeded, so the same file comes out every time.
Usage: gen/misc_q.py 40 > tests/golden/bulk/misc_q.txt, then regen.sh --bulk on it.
Hand-written edge cases of the same kernels are in tests/golden/cases/misc_q.txt."""
import random
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 8
R = random.Random(20261126)
T = {"int8": ("i8", -128, 127), "uint8": ("u8", 0, 255), "int16": ("i16", -32768, 32767)}
OUT = []


def case(line):
    OUT.append(line)


def shape(rank_lo=1, rank_hi=4, dim_hi=6):
    return [R.randint(1, dim_hi) for _ in range(R.randint(rank_lo, rank_hi))]


def fmt(s):
    return "[" + ",".join(str(d) for d in s) + "]"


def zp(dt):
    if dt == "int8":
        return R.randint(-100, 100)
    if dt == "uint8":
        return R.randint(20, 235)
    return 0


def q(dt, lo=0.004, hi=0.1, z=None):
    s = round(R.uniform(lo, hi), 6)
    return "q(%g,%d)" % (s, zp(dt) if z is None else z)


def bcast_pair():
    out = shape(1, 4)
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
    return a, b, out


def name(op, dt, k):
    return "mq_%s_%s_%d" % (op.lower(), dt, k)


# ---- comparisons: int8/uint8 rescale both sides to a common scale; int16 compares raw values
def comparison(op, dt, ver, k):
    a, b, out = bcast_pair()
    t = T[dt][0]
    qa = q(dt, 0.01, 0.1)
    # Half the cases share the scale, so that equal values occur often; raw-equal inputs too.
    qb = qa if R.random() < 0.5 else q(dt, 0.01, 0.1)
    lo, hi = (T[dt][1], T[dt][2]) if R.random() < 0.5 else (-3 if dt != "uint8" else 100,
                                                             3 if dt != "uint8" else 106)
    case("%s %s v%d ; in a %s%s rand(%d,%d) %s ; in b %s%s rand(%d,%d) %s ; out y bool%s"
         % (name(op, dt, k), op, ver, t, fmt(a), lo, hi, qa, t, fmt(b), lo, hi, qb, fmt(out)))


def binary(op, dt, ver, k, opts=""):
    a, b, out = bcast_pair()
    t = T[dt][0]
    case("%s %s v%d ; in a %s%s %s ; in b %s%s %s ; out y %s%s %s%s"
         % (name(op, dt, k), op, ver, t, fmt(a), q(dt), t, fmt(b), q(dt), t, fmt(out),
            q(dt, 0.001, 0.05), opts))


def unary(op, dt, ver, k, out_q=None, opts="", s=None, in_q=None, gen=""):
    s = s or shape(1, 4, 7)
    t = T[dt][0]
    iq = in_q or q(dt, 0.002, 0.08)
    oq = out_q or q(dt, 0.002, 0.08)
    case("%s %s v%d ; in x %s%s%s %s ; out y %s%s %s%s"
         % (name(op, dt, k), op, ver, t, fmt(s), gen, iq, t, fmt(s), oq,
            (" ; opts " + opts) if opts else ""))


def prelu(dt, ver, k):
    s = shape(2, 4, 6)
    t = T[dt][0]
    # alpha broadcasts against the input: per-channel (last dims) or a full shape.
    r = R.random()
    if r < 0.5:
        al = s[-1:]
    elif r < 0.8:
        al = [1] * (len(s) - 1) + s[-1:]
    else:
        al = s[1:]
    lo, hi = T[dt][1], T[dt][2]
    case("%s PRELU v%d ; in x %s%s %s ; const alpha %s%s rand(%d,%d) %s ; out y %s%s %s"
         % (name("prelu", dt, k), ver, t, fmt(s), q(dt, 0.01, 0.1), t, fmt(al), lo, hi,
            q(dt, 0.002, 0.02), t, fmt(s), q(dt, 0.005, 0.1)))


def resize(op, dt, ver, k, same_q=True):
    n, h, w, c = R.randint(1, 2), R.randint(1, 6), R.randint(1, 6), R.randint(1, 4)
    oh, ow = R.randint(1, 12), R.randint(1, 12)
    mode = R.choice(["none", "align", "half"])
    al, hp = ("true" if mode == "align" else "false"), ("true" if mode == "half" else "false")
    t = T[dt][0]
    qi = q(dt)
    qo = qi if same_q else q(dt)
    if op == "RESIZE_BILINEAR":
        opts = "ResizeBilinearOptions 2:bool=%s 3:bool=%s" % (al, hp)
    else:
        opts = "ResizeNearestNeighborOptions 0:bool=%s 1:bool=%s" % (al, hp)
    case("%s %s v%d ; in x %s[%d,%d,%d,%d] %s ; const size i32[2] vals(%d,%d) ; "
         "out y %s[%d,%d,%d,%d] %s ; opts %s"
         % (name(op, dt, k) + ("" if same_q else "_rq"), op, ver, t, n, h, w, c, qi, oh, ow,
            t, n, oh, ow, c, qo, opts))


def pack(dt, ver, k):
    s = shape(1, 3, 5)
    m = R.randint(1, 4)
    axis = R.randint(0, len(s))
    t = T[dt][0]
    qq = q(dt)
    o = s[:axis] + [m] + s[axis:]
    ins = " ; ".join("in x%d %s%s %s" % (i, t, fmt(s), qq) for i in range(m))
    case("%s PACK v%d ; %s ; out y %s%s %s ; opts PackOptions 0:i32=%d 1:i32=%d"
         % (name("pack", dt, k), ver, ins, t, fmt(o), qq, m, axis))


def pad(op, dt, ver, k):
    s = shape(1, 4, 5)
    p = [(R.randint(0, 2), R.randint(0, 2)) for _ in s]
    o = [d + a + b for d, (a, b) in zip(s, p)]
    t = T[dt][0]
    qq = q(dt)
    extra = ""
    if op == "PADV2":
        extra = " ; const c %s[] vals(%d) %s" % (t, R.randint(T[dt][1], T[dt][2]), qq)
    case("%s %s v%d ; in x %s%s %s ; const p i32[%d,2] vals(%s)%s ; out y %s%s %s"
         % (name(op, dt, k), op, ver, t, fmt(s), qq, len(s),
            ",".join("%d,%d" % ab for ab in p), extra, t, fmt(o), qq))


def argmax(op, dt, ver, k):
    s = shape(1, 4, 6)
    axis = R.randint(0, len(s) - 1)
    o = s[:axis] + s[axis + 1:]
    t = T[dt][0]
    ot = R.choice(["i32", "i64"])
    gen = " rand(-3,3)" if dt != "uint8" and R.random() < 0.4 else ""
    case("%s %s v%d ; in x %s%s%s %s ; const axis i32[] vals(%d) ; out y %s%s ; "
         "opts %s 0:i8=%s" % (name(op, dt, k), op, ver, t, fmt(s), gen, q(dt), axis, ot, fmt(o),
                              "ArgMaxOptions" if op == "ARG_MAX" else "ArgMinOptions", ot))


def quantize(src, dst, k):
    s = shape(1, 4, 6)
    if src == "float32":
        case("mq_quantize_f32_%s_%d QUANTIZE v2 ; in x f32%s rand(-4,4) ; out y %s%s %s"
             % (dst, k, fmt(s), T[dst][0], fmt(s), q(dst, 0.005, 0.05)))
    elif dst == "float32":
        case("mq_dequantize_%s_%d DEQUANTIZE v2 ; in x %s%s %s ; out y f32%s"
             % (src, k, T[src][0], fmt(s), q(src), fmt(s)))
    else:
        ver = 3 if "int16" in (src, dst) else 2
        oq = q(dst, 0.002, 0.1) if dst != "int16" else q(dst, 0.0001, 0.01)
        case("mq_requantize_%s_%s_%d QUANTIZE v%d ; in x %s%s %s ; out y %s%s %s"
             % (src, dst, k, ver, T[src][0], fmt(s), q(src), T[dst][0], fmt(s), oq))


def concat(dt, ver, k):
    base = shape(1, 4, 5)
    axis = R.randint(0, len(base) - 1)
    m = R.randint(1, 4)
    t = T[dt][0]
    qo = q(dt, z=0) if dt == "int16" else q(dt)
    ins, tot = [], 0
    for i in range(m):
        s = list(base)
        s[axis] = R.randint(1, 4)
        tot += s[axis]
        # TFLite rescales uint8 inputs, copies int16 ones as stored, and requires int8 inputs
        # to share the output's quantization.
        same = dt == "int8" or R.random() < 0.3
        ins.append("in x%d %s%s %s" % (i, t, fmt(s), qo if same else q(dt)))
    o = list(base)
    o[axis] = tot
    ax = axis - len(base) if R.random() < 0.3 else axis
    case("%s CONCATENATION v%d ; %s ; out y %s%s %s ; opts ConcatenationOptions 0:i32=%d "
         "1:i8=NONE" % (name("concatenation", dt, k), ver, " ; ".join(ins), t, fmt(o), qo, ax))


def reduce_mm(op, dt, ver, k):
    s = shape(1, 4, 6)
    n = R.randint(1, len(s))
    axes = R.sample(range(len(s)), n)
    if op == "REDUCE_PROD" and all(s[a] == 1 for a in axes):
        # A product over size-1 axes only is a no-op that TFLite evaluates at prepare time,
        # before the input exists: the official runtime's output is then meaningless.
        s[axes[0]] = 2
    if R.random() < 0.3:
        axes = [a - len(s) for a in axes]
    keep = R.random() < 0.5
    norm = sorted(a % len(s) for a in axes)
    o = [1 if i in norm else d for i, d in enumerate(s)] if keep else \
        [d for i, d in enumerate(s) if i not in norm]
    t = T[dt][0]
    qi = q(dt, 0.01, 0.1)
    same = dt == "int16" or R.random() < 0.7
    qo = qi if same else q(dt, 0.01, 0.1)
    gen = ""
    if op == "REDUCE_PROD":
        qo = q(dt, 0.01, 0.1)
        lo, hi = (-20, 20) if dt == "int8" else (-3000, 3000)
        z = int(qi.split(",")[1].rstrip(")"))
        gen = " rand(%d,%d)" % (max(lo + z, T[dt][1]), min(hi + z, T[dt][2]))
    case("%s %s v%d ; in x %s%s%s %s ; const axes i32[%d] vals(%s) ; out y %s%s %s ; "
         "opts ReducerOptions 0:bool=%s"
         % (name(op, dt, k), op, ver, t, fmt(s), gen, qi, len(axes),
            ",".join(str(a) for a in axes), t, fmt(o), qo, "true" if keep else "false"))


def div(dt, k):
    a, b, out = bcast_pair()
    t = T[dt][0]
    # The divisor never sits at its zero point (TFLite divides by the real value).
    zb, gb = (-128, "rand(-127,127)") if dt == "int8" else (0, "rand(1,255)")
    if R.random() < 0.5:
        zb, gb = (127, "rand(-128,126)") if dt == "int8" else (255, "rand(0,254)")
    act = R.choice(["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
    case("%s DIV v%d ; in a %s%s %s ; in b %s%s %s q(%g,%d) ; out y %s%s %s ; "
         "opts DivOptions 0:i8=%s"
         % (name("div", dt, k), 2 if dt == "int8" else 1, t, fmt(a), q(dt, 0.01, 0.1), t,
            fmt(b), gb, round(R.uniform(0.01, 0.1), 6), zb, t, fmt(out), q(dt, 0.01, 0.3),
            act))


def rawop(op, dt, ver, k):
    a, b, out = bcast_pair()
    t = T[dt][0]
    if op in ("FLOOR_DIV", "FLOOR_MOD"):
        lo, hi = (-128, 127) if dt == "int8" else (-3000, 3000)
        gb = R.choice(["rand(1,20)", "rand(-20,-1)", "rand(1,127)"])
        case("%s %s v%d ; in a %s%s rand(%d,%d) ; in b %s%s %s ; out y %s%s"
             % (name(op, dt, k), op, ver, t, fmt(a), lo, hi, t, fmt(b), gb, t, fmt(out)))
        return
    qq = " q(%g,0)" % round(R.uniform(0.001, 0.01), 6) if R.random() < 0.5 else ""
    qb = " q(%g,0)" % round(R.uniform(0.001, 0.01), 6) if qq else ""
    g = R.choice(["rand(-3,3)", "rand(-32768,32767)"])
    case("%s %s v%d ; in a %s%s %s%s ; in b %s%s %s%s ; out y bool%s"
         % (name(op, dt, k), op, ver, t, fmt(a), g, qq, t, fmt(b), g, qb, fmt(out)))


def l2norm(dt, k):
    s = shape(1, 4, 8)
    t = T[dt][0]
    case("%s L2_NORMALIZATION v2 ; in x %s%s %s ; out y %s%s q(0.0078125,%d) ; "
         "opts L2NormOptions 0:i8=NONE"
         % (name("l2_normalization", dt, k), t, fmt(s), q(dt, 0.002, 0.1), t, fmt(s),
            0 if dt == "int8" else 128))


def logsoftmax(dt, k):
    s = shape(1, 4, 8)
    t = T[dt][0]
    case("%s LOG_SOFTMAX v2 ; in x %s%s %s ; out y %s%s q(0.0625,%d)"
         % (name("log_softmax", dt, k), t, fmt(s), q(dt, 0.005, 0.3), t, fmt(s),
            127 if dt == "int8" else 255))


def rsqrt(dt, k):
    s = shape(1, 4, 7)
    t = T[dt][0]
    if dt == "int8":
        z = R.randint(-128, 0)
        iq, g = "q(%g,%d)" % (round(R.uniform(0.002, 0.1), 6), z), " rand(%d,127)" % z
    else:
        iq, g = "q(%g,0)" % round(R.uniform(0.0001, 0.01), 6), " rand(0,32767)"
    oq = q(dt, 0.01, 0.2) if dt == "int8" else q(dt, 0.0005, 0.01)
    case("%s RSQRT v%d ; in x %s%s%s %s ; out y %s%s %s"
         % (name("rsqrt", dt, k), 2 if dt == "int8" else 3, t, fmt(s), g, iq, t, fmt(s), oq))


def abs_op(dt, k):
    s = shape(1, 4, 7)
    t = T[dt][0]
    if dt == "int16" and R.random() < 0.25:
        case("%s ABS v3 ; in x i16%s ; out y i16%s" % (name("abs", dt, k), fmt(s), fmt(s)))
        return
    iq = q(dt, 0.002, 0.08)
    oq = iq if R.random() < 0.3 else q(dt, 0.002, 0.08)
    case("%s ABS v%d ; in x %s%s %s ; out y %s%s %s"
         % (name("abs", dt, k), 2 if dt == "int8" else 3, t, fmt(s), iq, t, fmt(s), oq))


def topk(dt, k):
    s = shape(1, 3, 8)
    kk = R.randint(1, s[-1])
    o = s[:-1] + [kk]
    t = T[dt][0]
    g = " rand(-5,5)" if R.random() < 0.3 else ""
    case("%s TOPK_V2 v%d ; in x %s%s%s ; const k i32[] vals(%d) ; out y %s%s ; out i i32%s"
         % (name("topk_v2", dt, k), 3 if dt == "int16" else 2, t, fmt(s), g, kk, t, fmt(o),
            fmt(o)))


def space_to_batch(dt, k):
    n, h, w, c = R.randint(1, 2), R.randint(1, 5), R.randint(1, 5), R.randint(1, 3)
    bh, bw = R.randint(1, 3), R.randint(1, 3)
    pt = R.randint(0, 2)
    pb = (-(h + pt)) % bh + bh * R.randint(0, 1)
    pl = R.randint(0, 2)
    pr = (-(w + pl)) % bw
    oh, ow = (h + pt + pb) // bh, (w + pl + pr) // bw
    t = T[dt][0]
    qq = q(dt)
    case("%s SPACE_TO_BATCH_ND v%d ; in x %s[%d,%d,%d,%d] %s ; const b i32[2] vals(%d,%d) ; "
         "const p i32[2,2] vals(%d,%d,%d,%d) ; out y %s[%d,%d,%d,%d] %s"
         % (name("space_to_batch_nd", dt, k), {"int8": 2, "uint8": 1, "int16": 4}[dt], t, n,
            h, w, c, qq, bh, bw, pt, pb, pl, pr, t, n * bh * bw, oh, ow, c, qq))


def misc_move(dt, k):
    """A few data-movement ops on quantized types (same quantization in and out)."""
    t = T[dt][0]
    qq = q(dt)
    ver = {"int8": 2, "uint8": 1, "int16": 4}[dt]
    r = k % 5
    if r == 0:
        s = shape(2, 4, 5)
        perm = list(range(len(s)))
        R.shuffle(perm)
        case("mq_transpose_%s_%d TRANSPOSE v%d ; in x %s%s %s ; const p i32[%d] vals(%s) ; "
             "out y %s%s %s" % (dt, k, ver, t, fmt(s), qq, len(s),
                                ",".join(map(str, perm)), t, fmt([s[i] for i in perm]), qq))
    elif r == 1:
        s = shape(1, 3, 5)
        ax = R.randint(0, len(s) - 1)
        idx = [R.randint(0, s[ax] - 1) for _ in range(R.randint(1, 4))]
        o = s[:ax] + [len(idx)] + s[ax + 1:]
        case("mq_gather_%s_%d GATHER v%d ; in x %s%s %s ; const i i32[%d] vals(%s) ; "
             "out y %s%s %s ; opts GatherOptions 0:i32=%d 1:i32=0"
             % (dt, k, ver, t, fmt(s), qq, len(idx), ",".join(map(str, idx)), t, fmt(o), qq, ax))
    elif r == 2 and dt != "int16":  # TFLite's SPACE_TO_DEPTH has no int16 kernel
        b = R.randint(2, 3)
        n, h, w, c = R.randint(1, 2), b * R.randint(1, 3), b * R.randint(1, 3), R.randint(1, 3)
        case("mq_space_to_depth_%s_%d SPACE_TO_DEPTH v%d ; in x %s[%d,%d,%d,%d] %s ; "
             "out y %s[%d,%d,%d,%d] %s ; opts SpaceToDepthOptions 0:i32=%d"
             % (dt, k, 2 if dt != "uint8" else 1, t, n, h, w, c, qq, t, n, h // b, w // b,
                c * b * b, qq, b))
    elif r in (2, 3):
        s = shape(1, 4, 6)
        ax = R.randint(0, len(s) - 1)
        m = R.choice([d for d in (1, 2, 3) if s[ax] % d == 0] or [1])
        o = list(s)
        o[ax] //= m
        outs = " ; ".join("out y%d %s%s %s" % (i, t, fmt(o), qq) for i in range(m))
        case("mq_split_%s_%d SPLIT v%d ; const a i32[] vals(%d) ; in x %s%s %s ; %s ; "
             "opts SplitOptions 0:i32=%d" % (dt, k, 3 if dt == "int16" else 2, ax, t, fmt(s),
                                              qq, outs, m))
    else:
        s = shape(1, 4, 5)
        case("mq_select_v2_%s_%d SELECT_V2 v1 ; in c bool%s ; in a %s%s %s ; in b %s%s %s ; "
             "out y %s%s %s" % (dt, k, fmt(s), t, fmt(s), qq, t, fmt(s), qq, t, fmt(s), qq))


def main():
    big, small = N, max(2, N // 3)
    for k in range(big):
        for op, v8 in (("EQUAL", 2), ("NOT_EQUAL", 2), ("LESS", 2), ("LESS_EQUAL", 2),
                       ("GREATER", 2), ("GREATER_EQUAL", 2)):
            if k < small:
                for dt in ("int8", "uint8"):
                    comparison(op, dt, v8 if dt == "int8" else 1, k)
            if k < N // 2 and op in ("EQUAL", "LESS", "GREATER_EQUAL"):
                rawop(op, "int16", 3, k)
        for dt in ("int8", "uint8", "int16"):
            for op in ("REDUCE_MAX", "REDUCE_MIN"):
                reduce_mm(op, dt, 2 if dt != "int16" else 3, k)
            if dt != "uint8":
                reduce_mm("REDUCE_PROD", dt, 2, k)
        for dt in ("int8", "uint8", "int16"):
            resize("RESIZE_BILINEAR", dt, {"int8": 2, "uint8": 1, "int16": 4}[dt], k)
            resize("RESIZE_NEAREST_NEIGHBOR", dt, {"int8": 2, "uint8": 1, "int16": 4}[dt], k)
            if k < 3 and dt == "int16":
                # Differing input and output quantization: TFLite interpolates the stored values
                # (the official runtime refuses it for 8-bit types: XNNPACK takes the op and
                # fails to delegate it).
                resize("RESIZE_BILINEAR", dt, 4, k, False)
            concat(dt, {"int8": 2, "uint8": 1, "int16": 3}[dt], k)
            if k < small:
                pack(dt, {"int8": 2, "uint8": 1, "int16": 4}[dt], k)
                pad("PAD", dt, {"int8": 3, "uint8": 1, "int16": 4}[dt], k)
                pad("PADV2", dt, {"int8": 2, "uint8": 1, "int16": 4}[dt], k)
                space_to_batch(dt, k)
            misc_move(dt, k)
        for dt in ("int8", "uint8"):
            if k < small:
                argmax("ARG_MAX", dt, 2, k)
                argmax("ARG_MIN", dt, 2, k)
            prelu(dt, 1, k)
            div(dt, k)
            logsoftmax(dt, k)
            l2norm(dt, k)
            unary("GELU", dt, 2, k, None, "GeluOptions 0:bool=%s" % R.choice(["true", "false"]))
        binary("SQUARED_DIFFERENCE", "int8", 2, k)
        for dt in ("int8", "int16"):
            rsqrt(dt, k)
            abs_op(dt, k)
            if k < N // 2:
                rawop("FLOOR_DIV", dt, 3 if dt == "int16" else 2, k)
                rawop("FLOOR_MOD", dt, 2, k)
                topk(dt, k)
        for dt in ("int8", "int16"):
            unary("EXP", dt, 2, k)
            unary("LOG", dt, 2, k)
        unary("ELU", "int8", 1, k)
        if k < small:
            for src, dst in (("float32", "int8"), ("float32", "uint8"), ("float32", "int16"),
                             ("int8", "float32"), ("uint8", "float32"), ("int16", "float32"),
                             ("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"),
                             ("uint8", "uint8"), ("int8", "int16"), ("int16", "int8"),
                             ("int16", "int16")):
                quantize(src, dst, k)
    print("# misc_q.txt: generated by tests/golden/gen/misc_q.py %d (seeded); do not edit." % N)
    for line in OUT:
        print(line)


main()
