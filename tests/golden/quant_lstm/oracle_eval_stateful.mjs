// oracle_eval_stateful.mjs: evaluates a stateful classifier (LSTM with variable tensors) on the
// official runtime's tfjs-tflite backend (LiteRT.js does not load variable tensors) over inputs
// written by `kiln eval --save-inputs DIR`, reloading the model before every sample so each one
// starts from the initial state (as `kiln eval` resets). Optionally writes the raw outputs of
// the first N samples as OUT_DIR/output_K.npy (bytes of output 0, for goldens).
//   node oracle_eval_stateful.mjs ORACLE_DIR MODEL.tflite INPUT_DIR LABELS.csv [N OUT_DIR]
// Prints one JSON line: {samples, correct, accuracy, predictions:[...]}.
import fs from 'node:fs';
import path from 'node:path';

const [oracle, model, dir, labelsCsv, nOut, outDir] = process.argv.slice(2);
if (!labelsCsv) {
  console.error('usage: oracle_eval_stateful.mjs ORACLE_DIR MODEL.tflite INPUT_DIR LABELS.csv [N OUT_DIR]');
  process.exit(2);
}
const { makeBackend } = await import(path.resolve(oracle, 'lib/backends.mjs'));
const { readNpy } = await import(path.resolve(oracle, 'lib/npy.mjs'));
const be = makeBackend('tfjs-tflite', () => {});
await be.init('simd');
const bytes = new Uint8Array(fs.readFileSync(model));
const labels = fs.readFileSync(labelsCsv, 'utf8').trim().split('\n').map((l) => +l.split(',')[1]);
const files = fs.readdirSync(dir).filter((f) => /^sample_\d+\.npy$/.test(f)).sort();
const views = {
  float32: (b) => new Float32Array(b.buffer, b.byteOffset, b.length / 4),
  int8: (b) => new Int8Array(b.buffer, b.byteOffset, b.length),
  uint8: (b) => b,
  int16: (b) => new Int16Array(b.buffer, b.byteOffset, b.length / 2),
};
// a minimal .npy writer (C order, little endian)
function writeNpy(file, dtype, shape, data) {
  const descr = { float32: '<f4', int8: '|i1', uint8: '|u1', int16: '<i2' }[dtype];
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + h.length + 1) % 64 !== 0) h += ' ';
  h += '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0; head.writeUInt16LE(h.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data)]));
}
let correct = 0;
const preds = [];
for (let i = 0; i < files.length; i++) {
  if (be.runner && typeof be.runner.delete === 'function') be.runner.delete();
  be.load(bytes);
  const sig = be.selectSignature(0);
  const npy = readNpy(fs.readFileSync(path.join(dir, files[i])), files[i]);
  be.setInputs([{ dtype: sig.inputs[0].dtype, shape: sig.inputs[0].shape, data: npy.data }]);
  const out = be.runOnce()[0];
  if (outDir && i < +nOut) writeNpy(path.join(outDir, `output_${i}.npy`), out.dtype, out.shape, out.data);
  const v = views[out.dtype](new Uint8Array(out.data));
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k] > v[best]) best = k;
  preds.push(best);
  if (best === labels[i]) correct++;
}
console.log(JSON.stringify({ samples: files.length, correct, accuracy: correct / files.length, predictions: preds }));
