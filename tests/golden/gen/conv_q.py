#!/usr/bin/env python3
"""Writes tests/golden/cases/conv_q.txt: random quantized CONV_2D, DEPTHWISE_CONV_2D,
TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL cases (int8 per-tensor/per-channel, int16x8
with int64 or int32 bias, legacy uint8, hybrid float/int8), named cq_*. Seeded, so the same file
comes out every time. Usage: gen/conv_q.py [N per op and type] > cases/conv_q.txt

Only models both official runtimes accept are made: quantized CONV_2D needs a bias in LiteRT;
int16 conv-family ops get an int64 bias (LiteRT reads an int32 one as int64), except FC, whose
int32-bias and no-bias int16 paths round differently and are covered too; output scales keep
the requantization multiplier in TFLite's supported range."""
import math
import random
import struct
import sys

N = 12
R = random.Random(20261125 + 4)
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
TY = {"i8": (-128, 127), "u8": (0, 255), "i16": (-32768, 32767)}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def g(x):
    """A float literal that parses back to the float32 we computed with."""
    return "%.9g" % f32(x)


def fmt(s):
    return "[" + ",".join(str(d) for d in s) + "]"


def act_q(dt):
    if dt == "i16":
        return f32(round(R.uniform(0.00004, 0.0006), 8)), 0
    lo, hi = TY[dt]
    z = R.randint(lo, hi) if R.random() < 0.15 else R.randint(lo + 60, hi - 60)
    return f32(round(R.uniform(0.003, 0.05), 6)), z


def qstr(s, z):
    return "q(%s,%d)" % (g(s), z)


def wscales(n, rng=None):
    rng = rng or R
    return [f32(round(rng.uniform(0.002, 0.02), 6)) for _ in range(n)]


def out_scale(dt, in_s, w_s, depth):
    """An output scale that spreads a typical accumulator over the output range."""
    ws = sum(w_s) / len(w_s)
    if dt == "i16":
        typical = 12000 * 70 * math.sqrt(depth) * ws * in_s
        s = typical / 32767 * R.uniform(0.4, 2.0)
    else:
        typical = 70 * 70 * math.sqrt(depth) * ws * in_s
        s = typical / 127 * R.uniform(0.4, 2.0)
    # Keep in_s * w_s / out_s in (2^-31, 2^7): TFLite's int64 multiplier asserts shift < 8.
    for w in w_s:
        s = max(s, in_s * w / 100.0)
    return f32(round(s, 8 if dt == "i16" else 7))


def weights(dt, shape, n_out, qdim, per_channel, scale_rng=None):
    if dt == "u8":
        s = wscales(1)
        return "const w u8%s rand(0,255) q(%s,%d)" % (fmt(shape), g(s[0]), R.randint(90, 170)), s
    s = wscales(n_out if per_channel else 1, scale_rng)
    if per_channel:
        q = "q([%s],0,dim=%d)" % (",".join(g(x) for x in s), qdim)
    else:
        q = "q(%s,0)" % g(s[0])
    lo = R.choice([127, 127, 60, 9])
    return "const w i8%s rand(%d,%d) %s" % (fmt(shape), -lo, lo, q), s


def bias(dt, n, in_s, w_s, kind):
    if kind == "none":
        return "none"
    if kind == "f32":
        return "const b f32[%d] rand(-1,1)" % n
    scales = [f32(in_s * w) for w in w_s]
    if len(scales) > 1:
        q = "q([%s],0,dim=0)" % ",".join(g(x) for x in scales)
    else:
        q = "q(%s,0)" % g(scales[0])
    lim = R.choice([100, 3000, 30000]) if dt != "i16" else R.choice([1000, 100000, 3000000])
    t = {"i64": "i64", "i32": "i32"}[kind]
    return "const b %s[%d] rand(%d,%d) %s" % (t, n, -lim, lim, q)


def opt_pad(p):
    return "0.padding:i8=%s" % p


def conv_case(name, dt, dw):
    hyb = dt == "hyb"
    adt = "f32" if hyb else dt
    n = R.choice([1, 1, 1, 2])
    h, w = R.randint(1, 11), R.randint(1, 11)
    c = R.randint(1, 8)
    kh = R.choice([1, 2, 3, 3, 5])
    kw = R.choice([kh, kh, R.randint(1, 4)])
    sh = R.choice([1, 1, 2, 3])
    sw = R.choice([sh, sh, 1, 2])
    dh = R.choice([1, 1, 1, 2])
    dwl = R.choice([dh, 1])
    pad = R.choice(["SAME", "VALID"])
    if pad == "VALID" and ((kh - 1) * dh + 1 > h or (kw - 1) * dwl + 1 > w):
        pad = "SAME"
    per_channel = dt != "u8" and R.random() < 0.75
    forced = dw and hyb and not per_channel
    if forced:
        per_channel = True  # TFLite's hybrid depthwise kernel needs one scale per channel
    if dw:
        mult = R.choice([1, 1, 2, 3])
        oc = c * mult
        wshape, qdim, depth = [1, kh, kw, oc], 3, kh * kw
    else:
        groups = R.choice([1, 1, 1, 2]) if (c % 2 == 0 and not hyb and dt != "u8") else 1
        oc = R.randint(1, 9) * groups
        wshape, qdim, depth = [oc, kh, kw, c // groups], 0, kh * kw * (c // groups)

    def osz(i, k, s, d):
        return (i + s - 1) // s if pad == "SAME" else (i + s - ((k - 1) * d + 1)) // s
    oh, ow = osz(h, kh, sh, dh), osz(w, kw, sw, dwl)
    act = R.choice(ACTS)
    if hyb:
        xin = "in x f32%s rand(-2,2)" % fmt([n, h, w, c])
        # A forced per-channel filter draws its scales elsewhere (after the one draw a per-tensor
        # filter takes), so that the other cases stay as they were.
        if forced:
            R.uniform(0.002, 0.02)
        wsec, w_s = weights("i8", wshape, oc, qdim, per_channel,
                            random.Random(name) if forced else None)
        bsec = bias(dt, oc, 0, w_s, "f32")
        out = "out y f32%s" % fmt([n, oh, ow, oc])
    else:
        in_s, in_z = act_q(dt)
        xin = "in x %s%s %s" % (adt, fmt([n, h, w, c]), qstr(in_s, in_z))
        wsec, w_s = weights(dt, wshape, oc, qdim, per_channel)
        bkind = ("i64" if R.random() < 0.85 else "i32") if dt == "i16" else "i32"
        if dt == "i16" and not dw and bkind == "i32":
            bkind = "i64"  # LiteRT reads an int16 CONV_2D's int32 bias as int64
        if dt == "i16" and dw and bkind == "i32":
            bkind = "i64"
        bsec = bias(dt, oc, in_s, w_s, bkind)
        o_s = out_scale(dt, in_s, w_s, depth)
        o_z = 0 if dt == "i16" else R.randint(TY[dt][0] + 40, TY[dt][1] - 40)
        out = "out y %s%s %s" % (adt, fmt([n, oh, ow, oc]), qstr(o_s, o_z))
    if dw:
        ver = {"i8": 3, "i16": 5, "u8": 1, "hyb": 6}[dt]
        opts = "opts DepthwiseConv2DOptions %s 1.stride_w:i32=%d 2.stride_h:i32=%d " \
               "3.depth_multiplier:i32=%d 4.fused:i8=%s 5.dilation_w:i32=%d 6.dilation_h:i32=%d" % (
                   opt_pad(pad), sw, sh, mult, act, dwl, dh)
        op = "DEPTHWISE_CONV_2D"
    else:
        ver = {"i8": 3, "i16": 4, "u8": 1, "hyb": 2}[dt]
        opts = "opts Conv2DOptions %s 1.stride_w:i32=%d 2.stride_h:i32=%d 3.fused:i8=%s " \
               "4.dilation_w:i32=%d 5.dilation_h:i32=%d" % (opt_pad(pad), sw, sh, act, dwl, dh)
        op = "CONV_2D"
    return "%s %s v%d ; %s ; \\\n    %s ; \\\n    %s ; %s ; \\\n    %s" % (
        name, op, ver, xin, wsec, bsec, out, opts)


def fc_case(name, dt):
    hyb = dt == "hyb"
    rows = R.choice([1, 1, 2, 3, 4])
    depth = R.choice([R.randint(1, 16), R.randint(16, 80)])
    units = R.randint(1, 16)
    keep = R.random() < 0.2
    xshape = [1, rows, depth] if keep else [rows, depth]
    oshape = [1, rows, units] if keep else [rows, units]
    per_channel = dt != "u8" and R.random() < 0.6
    act = R.choice(ACTS)
    wsec, w_s = weights("u8" if dt == "u8" else "i8", [units, depth], units, 0, per_channel)
    extra = ""
    if hyb:
        xin = "in x f32%s rand(-2,2)" % fmt(xshape)
        bsec = bias(dt, units, 0, w_s, R.choice(["f32", "f32", "none"]))
        out = "out y f32%s" % fmt(oshape)
        asym = R.random() < 0.5
        extra = " 3.asymmetric_quantize_inputs:bool=%s" % ("true" if asym else "false")
        ver = 9 if per_channel else (7 if asym else 3)
    else:
        in_s, in_z = act_q(dt)
        xin = "in x %s%s %s" % (dt, fmt(xshape), qstr(in_s, in_z))
        if dt == "i16":
            bkind = R.choice(["i64", "i64", "i32", "none"])
        else:
            bkind = R.choice(["i32", "i32", "i32", "none"])
        bsec = bias(dt, units, in_s, w_s, bkind)
        o_s = out_scale(dt, in_s, w_s, depth)
        o_z = 0 if dt == "i16" else R.randint(TY[dt][0] + 40, TY[dt][1] - 40)
        out = "out y %s%s %s" % (dt, fmt(oshape), qstr(o_s, o_z))
        ver = {"i8": 4, "i16": 7, "u8": 1}[dt]
        if keep:
            ver = max(ver, 5)
    opts = "opts FullyConnectedOptions 0.fused:i8=%s 2.keep_num_dims:bool=%s%s" % (
        act, "true" if keep else "false", extra)
    return "%s FULLY_CONNECTED v%d ; %s ; \\\n    %s ; \\\n    %s ; %s ; \\\n    %s" % (
        name, ver, xin, wsec, bsec, out, opts)


def tconv_case(name, dt):
    h, w, c = R.randint(1, 6), R.randint(1, 6), R.randint(1, 6)
    oc = R.randint(1, 6)
    k = R.choice([1, 2, 3, 4])
    kw = R.choice([k, R.randint(1, 4)])
    s = R.choice([1, 2, 3])
    sw = R.choice([s, 1, 2])
    pad = R.choice(["SAME", "VALID"])
    if pad == "SAME":
        oh, ow = h * s, w * sw
    else:
        oh, ow = (h - 1) * s + k, (w - 1) * sw + kw
    per_channel = dt != "u8" and R.random() < 0.75
    in_s, in_z = act_q(dt)
    wsec, w_s = weights(dt, [oc, k, kw, c], oc, 0, per_channel)
    bkind = "i64" if dt == "i16" else "i32"
    if R.random() < 0.25:
        bkind = "none"
    bsec = bias(dt, oc, in_s, w_s, bkind)
    o_s = out_scale(dt, in_s, w_s, k * kw * c)
    o_z = 0 if dt == "i16" else R.randint(TY[dt][0] + 40, TY[dt][1] - 40)
    act = R.choice(ACTS) if bkind != "none" else "NONE"
    ver = {"i8": 3, "i16": 3, "u8": 1}[dt]
    opts = "opts TransposeConvOptions %s 1.stride_w:i32=%d 2.stride_h:i32=%d" % (
        opt_pad(pad), sw, s)
    if act != "NONE":
        opts += " 3.fused:i8=%s" % act
        ver = 4
    return ("%s TRANSPOSE_CONV v%d ; const shape i32[4] vals(1,%d,%d,%d) ; \\\n    %s ; \\\n"
            "    in x %s%s %s ; %s ; \\\n    out y %s%s %s ; \\\n    %s") % (
        name, ver, oh, ow, oc, wsec, dt, fmt([1, h, w, c]), qstr(in_s, in_z), bsec, dt,
        fmt([1, oh, ow, oc]), qstr(o_s, o_z), opts)


def bmm_case(name, dt):
    B = R.choice([1, 2, 3])
    M, K, Nn = R.randint(1, 6), R.randint(1, 24), R.randint(1, 6)
    adjx, adjy = R.random() < 0.3, R.random() < 0.3
    ash = [B, K, M] if adjx else [B, M, K]
    bsh = [Nn, K] if adjy else [K, Nn]
    if R.random() < 0.6:
        bsh = [B] + bsh
    if R.random() < 0.2 and B > 1:
        ash = [1] + ash[1:]
        bsh = [B] + bsh[-2:]
    oshape = [max(ash[0], bsh[0] if len(bsh) == 3 else 1), M, Nn]
    if dt == "hyb":
        ws = wscales(1)
        asym = R.random() < 0.5
        return ("%s BATCH_MATMUL v1 ; in a f32%s rand(-2,2) ; \\\n    const b i8%s rand(-127,127) "
                "q(%s,0) ; \\\n    out y f32%s ; opts BatchMatMulOptions 0.adj_x:bool=%s "
                "1.adj_y:bool=%s 2.asymmetric_quantize_inputs:bool=%s") % (
            name, fmt(ash), fmt(bsh), g(ws[0]), fmt(oshape), str(adjx).lower(),
            str(adjy).lower(), str(asym).lower())
    a_s, a_z = act_q(dt)
    b_s, b_z = act_q(dt)
    if dt == "i16":
        o_s = f32(a_s * b_s * 12000 * 12000 * math.sqrt(K) / 32767 * R.uniform(0.3, 2))
    else:
        o_s = f32(a_s * b_s * 70 * 70 * math.sqrt(K) / 127 * R.uniform(0.4, 2))
    o_z = 0 if dt == "i16" else R.randint(-88, 87)
    bsec = "in b" if R.random() < 0.5 else "const b"
    bgen = "" if bsec == "in b" else " rand(%d,%d)" % TY[dt]
    ver = 3 if dt == "i16" else 2
    return ("%s BATCH_MATMUL v%d ; in a %s%s %s ; \\\n    %s %s%s%s %s ; \\\n    out y %s%s %s ; "
            "opts BatchMatMulOptions 0.adj_x:bool=%s 1.adj_y:bool=%s") % (
        name, ver, dt, fmt(ash), qstr(a_s, a_z), bsec, dt, fmt(bsh), bgen, qstr(b_s, b_z), dt,
        fmt(oshape), qstr(o_s, o_z), str(adjx).lower(), str(adjy).lower())


def main():
    print("# conv_q.txt: quantized conv-family cases, named cq_*; written by gen/conv_q.py")
    print("# (seeded: rerun it to regenerate, never edit by hand). Format: README.md.")
    print("# int8 per-tensor/per-channel, int16x8, legacy uint8 and hybrid float/int8 variants of")
    print("# CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL.")
    plan = [("conv", ["i8", "i16", "u8", "hyb"]), ("dw", ["i8", "i16", "u8", "hyb"]),
            ("fc", ["i8", "i16", "u8", "hyb"]), ("tconv", ["i8", "i16", "u8"]),
            ("bmm", ["i8", "i16", "hyb"])]
    # Two rounds (names ..._N and ..._bN), so that cases added later leave earlier ones as
    # they were (one random stream runs through the whole file).
    for rnd, tag in ((0, ""), (1, "b")):
        for op, dts in plan:
            for dt in dts:
                print()
                print("# ---- %s %s%s" % (op, dt, " (second round)" if rnd else ""))
                for i in range(N):
                    name = "cq_%s_%s_%s%d" % (op, dt, tag, i)
                    if op == "conv":
                        print(conv_case(name, dt, False))
                    elif op == "dw":
                        print(conv_case(name, dt, True))
                    elif op == "fc":
                        print(fc_case(name, dt))
                    elif op == "tconv":
                        print(tconv_case(name, dt))
                    else:
                        print(bmm_case(name, dt))
                    print()

if __name__ == "__main__":
    N = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    main()
