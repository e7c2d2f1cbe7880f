#!/usr/bin/env python3
"""qtp.py: goldens and checks of `kiln quantize` on the third-party-style float models of
tests/golden/gen/multiop.py (used by regen.sh and tests/test_quantize_thirdparty.sh).

  qtp.py regen KILN ORACLE_DIR MODELS_DIR OUT.json.gz
      quantizes every model in the 4 modes with KILN, runs the official runtime (tflite-run)
      and TFLite Micro (tflm-run, int8/int16x8) on the quantized files and stores their outputs,
      with the sha256 of each quantized file (so the check knows the goldens still belong to
      what the quantizer writes).
  qtp.py check KILN MODELS_DIR GOLD.json.gz KNOWN_FAILURES
      quantizes again and compares Kiln's outputs: `run --arith litert` with the official
      runtime (int modes bit-exact; float16/dynamic max|diff| <= 1e-5 x max|out|) and the
      default `run` with TFLite Micro (bit-exact). A quantize error must stay a clean one-line
      error with no file. Lines "MODEL MODE  # why" of KNOWN_FAILURES give XFAIL.
MODELS_DIR comes from `multiop.py DIR --samples 3`."""
import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

MODES = ["int8", "dynamic", "float16", "int16x8"]
SAMPLES = 3
CALIB_N = "128"
TIMEOUT = 300
# Models with at most 4,096 weights: with --calib, int8 mode refines their integer weights
# against the float model (src/quant/refine.c), which takes ~40 s of CPU on 16 samples for a
# 1,800-weight model (finding F3 of the sweep). The test calibrates them in int8 with
# --calib-random, which skips the refinement; the other models and int16x8 use --calib with the
# 128 samples of NAME.calib.npy (as bench/quantize_thirdparty.sh does, so that the same inputs
# give the same quantized files and findings).
SMALL = {"attention", "conv1d", "effnet_hswish", "keras_pad_conv", "leaky_prelu", "res_dilated",
         "slice_split_pack", "text_cls", "two_in_two_out", "unet_resize", "unet_tconv"}


def qargs(mdir, model, mode):
    a = ["--mode", mode, "-q", "--no-report"]
    if mode == "int8" and model in SMALL:
        a += ["--calib-random", "--calib-samples", CALIB_N]
    elif mode in ("int8", "int16x8"):
        a += ["--calib", os.path.join(mdir, model + ".calib.npy"), "--calib-samples", CALIB_N]
    return a


def models(mdir):
    return sorted(f[:-7] for f in os.listdir(mdir) if f.endswith(".tflite"))


def inputs(mdir, model, s):
    d = os.path.join(mdir, model + ".in")
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.startswith("s%d_" % s)]


def quantize(kiln, mdir, model, mode, out):
    p = subprocess.run([kiln, "quantize", os.path.join(mdir, model + ".tflite"), "-o", out] +
                       qargs(mdir, model, mode), capture_output=True, text=True, timeout=TIMEOUT)
    err = p.stderr.strip().replace(os.path.join(mdir, model + ".tflite"), model + ".tflite")
    return p.returncode, err


def npy_raw(path):
    b = open(path, "rb").read()
    hl, hs = (int.from_bytes(b[8:10], "little"), 10) if b[6] == 1 else \
        (int.from_bytes(b[8:12], "little"), 12)
    return b[hs:hs + hl].decode("latin1").strip(), b[hs + hl:]


def read_outs(d, kiln_names):
    if not os.path.isdir(d):
        return None
    if kiln_names:
        fs = sorted(f for f in os.listdir(d) if f.endswith(".npy") and f[:3].isdigit())
    else:
        fs = sorted((f for f in os.listdir(d) if f.startswith("output_") and f.endswith(".npy")),
                    key=lambda f: int(f[7:-4]))
    res = []
    for f in fs:
        h, data = npy_raw(os.path.join(d, f))
        res.append({"header": h, "b64": base64.b64encode(data).decode()})
    return res or None


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def regen(kiln, oracle, mdir, out):
    tmp = tempfile.mkdtemp(prefix="qtp_regen.")
    gold = {}
    try:
        for m in models(mdir):
            gold[m] = {}
            for mode in MODES:
                q = os.path.join(tmp, "%s.%s.tflite" % (m, mode))
                try:
                    rc, err = quantize(kiln, mdir, m, mode, q)
                except subprocess.TimeoutExpired:
                    rc, err = -1, "did not finish in %d s" % TIMEOUT
                e = {"args": qargs("MODELS", m, mode)}
                gold[m][mode] = e
                if rc != 0:
                    e["error"] = err
                    print("%-18s %-8s quantize error: %s" % (m, mode, err.splitlines()[0][:90]))
                    continue
                e["sha"] = sha(q)
                e["litert"], e["tflm"] = [], []
                for s in range(SAMPLES):
                    ins = inputs(mdir, m, s)
                    d = os.path.join(tmp, "lit")
                    shutil.rmtree(d, ignore_errors=True)
                    cmd = [os.path.join(oracle, "tflite-run"), q, "--quiet", "--out", d]
                    for i in ins:
                        cmd += ["--input", i]
                    p = subprocess.run(cmd, capture_output=True, text=True)
                    if p.returncode != 0:
                        e["oracle_error"] = p.stdout.strip().splitlines()[-1][:400]
                        e["litert"] = None
                        break
                    e["litert"].append(read_outs(d, False))
                if mode in ("int8", "int16x8") and os.path.exists(os.path.join(oracle, "tflm-run")):
                    for s in range(SAMPLES):
                        d = os.path.join(tmp, "tflm")
                        shutil.rmtree(d, ignore_errors=True)
                        os.makedirs(d)
                        p = subprocess.run([os.path.join(oracle, "tflm-run"), q] +
                                           inputs(mdir, m, s) + ["--out", d],
                                           capture_output=True, text=True)
                        if p.returncode != 0:
                            e["tflm_error"] = (p.stderr.strip() or p.stdout.strip())[:300]
                            e["tflm"] = None
                            break
                        e["tflm"].append(read_outs(d, False))
                else:
                    e["tflm"] = None
                print("%-18s %-8s litert %s, tflm %s" % (
                    m, mode, "ok" if e["litert"] else "REFUSED " + e.get("oracle_error", "")[:60],
                    "ok" if e["tflm"] else e.get("tflm_error", "-")[:60]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = json.dumps(gold, sort_keys=True, separators=(",", ":")).encode()
    with open(out + ".tmp", "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as g:
            g.write(raw)
    os.replace(out + ".tmp", out)
    print("qtp.py: %s (%d bytes)" % (out, os.path.getsize(out)))


def floats(o):
    import struct
    data = base64.b64decode(o["b64"])
    if "'<f4'" in o["header"]:
        return list(struct.unpack("<%df" % (len(data) // 4), data))
    return None


def same(g, k, tol):
    """g, k: lists of outputs; tol None = bytes equal. Returns (ok, text)."""
    if k is None or len(g) != len(k):
        return False, "output count %s vs golden %d" % (None if k is None else len(k), len(g))
    for i, (a, b) in enumerate(zip(g, k)):
        if a["header"].split("'shape'")[1] != b["header"].split("'shape'")[1] or \
                a["header"].split("'descr'")[1][:8] != b["header"].split("'descr'")[1][:8]:
            return False, "output %d: %s vs golden %s" % (i, b["header"], a["header"])
        if a["b64"] == b["b64"]:
            continue
        fa, fb = floats(a), floats(b)
        if tol is None or fa is None:
            if fa is not None:
                nd = sum(1 for x, y in zip(fa, fb) if x != y)
                md = max(abs(x - y) for x, y in zip(fa, fb))
                return False, "output %d: %d of %d values differ, max %g" % (i, nd, len(fa), md)
            return False, "output %d: bytes differ" % i
        mx = max([abs(x) for x in fa] + [1e-30])
        md = max(abs(x - y) for x, y in zip(fa, fb))
        if md > tol * mx:
            return False, "output %d: max|diff| %g > %g x max|out| %g" % (i, md, tol, mx)
    return True, ""


def check(kiln, mdir, goldf, knownf):
    with gzip.open(goldf) as f:
        gold = json.load(f)
    known = {}
    if os.path.exists(knownf):
        for line in open(knownf):
            line = line.split("#")[0].split()
            if len(line) >= 2:
                known[(line[0], line[1])] = True
    have = set(models(mdir))
    tmp = tempfile.mkdtemp(prefix="qtp_check.")
    npass = nfail = nxfail = nxpass = 0

    def result(m, mode, what, ok, msg):
        nonlocal npass, nfail, nxfail, nxpass
        if ok:
            npass += 1
            return
        if (m, mode) in known:
            nxfail += 1
            print("XFAIL %s %s %s: %s" % (m, mode, what, msg))
        else:
            nfail += 1
            print("FAIL %s %s %s: %s" % (m, mode, what, msg))
    try:
        for m in sorted(gold):
            if m not in have:
                result(m, "-", "model", False, "multiop.py no longer writes it")
                continue
            for mode in MODES:
                e = gold[m].get(mode)
                if e is None:
                    continue
                fails_before = nfail + nxfail
                q = os.path.join(tmp, "%s.%s.tflite" % (m, mode))
                try:
                    rc, err = quantize(kiln, mdir, m, mode, q)
                except subprocess.TimeoutExpired:
                    result(m, mode, "quantize", False, "did not finish in %d s" % TIMEOUT)
                    continue
                if "error" in e:
                    clean = rc == 1 and len(err.splitlines()) == 1 and not os.path.exists(q)
                    if rc == 0:
                        result(m, mode, "quantize", False, "quantizes now (golden: error '%s'); "
                               "run tests/golden/thirdparty/regen.sh" % e["error"][:80])
                    else:
                        result(m, mode, "quantize", clean, "not a clean one-line error (rc %d): %s"
                               % (rc, err[:200]))
                    if (m, mode) in known:
                        result(m, mode, "known", False, "open finding: " + e["error"][:100])
                    continue
                if rc != 0:
                    result(m, mode, "quantize", False, "rc %d: %s" % (rc, err[:200]))
                    continue
                if sha(q) != e["sha"]:
                    result(m, mode, "sha256", False, "the quantizer writes another file than the "
                           "goldens were made from: run tests/golden/thirdparty/regen.sh")
                    continue
                npass += 1
                if e.get("litert") is None:
                    result(m, mode, "litert", False, "the official runtime refused this file: " +
                           e.get("oracle_error", "")[:200])
                for s in range(SAMPLES):
                    ins = inputs(mdir, m, s)
                    for dial, key in (("litert", "litert"), ("tflm", "tflm")):
                        if not e.get(key):
                            continue
                        d = os.path.join(tmp, "out_%s_%d" % (dial, s))
                        shutil.rmtree(d, ignore_errors=True)
                        cmd = [kiln, "run", q] + ins + ["--out", d]
                        if dial == "litert":
                            cmd += ["--arith", "litert"]
                        p = subprocess.run(cmd, capture_output=True, text=True)
                        if p.returncode != 0:
                            result(m, mode, dial, False, "kiln run failed: " + p.stderr.strip())
                            continue
                        tol = 1e-5 if (mode in ("dynamic", "float16") and dial == "litert") \
                            else None
                        ok, msg = same(e[key][s], read_outs(d, True), tol)
                        result(m, mode, "%s s%d" % (dial, s), ok, msg)
                if (m, mode) in known and nfail + nxfail == fails_before:
                    nxpass += 1
                    print("XPASS %s %s: passes now; remove it from known_failures.lst" % (m, mode))
                os.remove(q)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed, %d known failures (XFAIL), %d XPASS" %
          (npass, nfail, nxfail, nxpass))
    return 1 if nfail else 0


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "regen":
        regen(*a[1:])
        return 0
    if len(a) == 5 and a[0] == "check":
        return check(*a[1:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
