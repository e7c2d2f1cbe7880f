// oracle_batch.mjs: runs many single-op models through the official LiteRT runtime in ONE node
// process (the oracle's lib/backends.mjs, as tflite-run uses it), for tests/golden/regen.sh.
// Usage: node oracle_batch.mjs ORACLE_DIR LIST
//   LIST: one case folder per line (model.tflite, input_K.npy); writes output_K.npy of the
//   official runtime into DIR/litert/. Prints "ok DIR" or "FAIL DIR: reason" per folder.
import fs from 'node:fs';
import path from 'node:path';

const [oracle, listFile] = process.argv.slice(2);
if (!oracle || !listFile) {
  console.error('usage: node oracle_batch.mjs ORACLE_DIR LIST');
  process.exit(2);
}
const { makeBackend } = await import(path.join(path.resolve(oracle), 'lib/backends.mjs'));
const { readNpy, writeNpy, DTYPES } = await import(path.join(path.resolve(oracle), 'lib/npy.mjs'));

let runtimeErrors = [];
const log = (src, line) => {
  if ((src === 'litert' || src === 'tflite') && /\bERROR\b/.test(line)) runtimeErrors.push(line);
};
const takeErrors = () => { const e = [...new Set(runtimeErrors)]; runtimeErrors = []; return e; };

// One backend for the whole batch: starting the WebAssembly runtime is what costs time.
const be = makeBackend('litert', log);
await be.init('compat');

function release() {
  for (const k of ['compiled', 'model']) {
    try { be[k]?.delete?.(); } catch { /* already gone */ }
    be[k] = null;
  }
  if (be.modelPtr) { try { be.W._free(be.modelPtr); } catch { /* ignore */ } be.modelPtr = 0; }
  be.freeInputs();
}

async function runOne(dir) {
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'model.tflite')));
  const ins = fs.readdirSync(dir).filter((f) => /^input_\d+\.npy$/.test(f))
    .sort((a, b) => parseInt(a.slice(6), 10) - parseInt(b.slice(6), 10));
  takeErrors();
  be.load(bytes);
  await be.compile();
  let errs = takeErrors();
  if (errs.length) throw new Error(`rejected: ${errs.slice(0, 3).join(' | ')}`);
  const sig = be.selectSignature(0);
  if (sig.inputs.length !== ins.length) throw new Error(`runtime has ${sig.inputs.length} inputs, case ${ins.length}`);
  const feeds = ins.map((f, i) => {
    const n = readNpy(fs.readFileSync(path.join(dir, f)), f);
    if (n.dtype !== sig.inputs[i].dtype) throw new Error(`${f}: dtype ${n.dtype}, runtime wants ${sig.inputs[i].dtype}`);
    return { dtype: n.dtype, shape: sig.inputs[i].shape.length ? sig.inputs[i].shape : n.shape, data: n.data };
  });
  be.setInputs(feeds);
  const outs = be.runOnce();
  errs = takeErrors();
  if (errs.length) throw new Error(`run: ${errs.slice(0, 3).join(' | ')}`);
  const od = path.join(dir, 'litert');
  fs.mkdirSync(od, { recursive: true });
  outs.forEach((o, k) => {
    if (!DTYPES[o.dtype]) throw new Error(`output ${k} has dtype ${o.dtype}`);
    fs.writeFileSync(path.join(od, `output_${k}.npy`), writeNpy(o.dtype, o.shape, o.data));
  });
}

const dirs = fs.readFileSync(listFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
for (const dir of dirs) {
  try {
    await runOne(dir);
    console.log(`ok ${dir}`);
  } catch (e) {
    console.log(`FAIL ${dir}: ${String(e.message ?? e).replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  release();
}
