// bench/oracle_eval.mjs: evaluates a classifier on the official runtime (LiteRT.js, through the
// oracle's backend library) over inputs written by `kiln eval --save-inputs DIR`, in one
// process, so `kiln eval` accuracy can be checked against the official runtime's.
//   node bench/oracle_eval.mjs ORACLE_DIR MODEL.tflite INPUT_DIR LABELS.csv
// LABELS.csv is `kiln eval --predictions` output (index,label,predicted...). Prints one JSON
// line: {samples, correct, accuracy, predictions:[...]} (argmax of output 0, ties to the lower
// index, dequantized order is the raw order for a positive scale).
import fs from 'node:fs';
import path from 'node:path';

const [oracle, model, dir, labelsCsv] = process.argv.slice(2);
if (!labelsCsv) {
  console.error('usage: oracle_eval.mjs ORACLE_DIR MODEL.tflite INPUT_DIR LABELS.csv');
  process.exit(2);
}
const { makeBackend } = await import(path.resolve(oracle, 'lib/backends.mjs'));
const { readNpy } = await import(path.resolve(oracle, 'lib/npy.mjs'));

const errors = [];
const be = makeBackend('litert', (src, line) => { if (/ERROR/.test(line)) errors.push(line); });
await be.init('compat');
be.load(new Uint8Array(fs.readFileSync(model)));
await be.compile();
const sig = be.selectSignature(0);
const labels = fs.readFileSync(labelsCsv, 'utf8').trim().split('\n').map((l) => +l.split(',')[1]);
const files = fs.readdirSync(dir).filter((f) => /^sample_\d+\.npy$/.test(f)).sort();
const views = {
  float32: (b) => new Float32Array(b.buffer, b.byteOffset, b.length / 4),
  int8: (b) => new Int8Array(b.buffer, b.byteOffset, b.length),
  uint8: (b) => b,
  int16: (b) => new Int16Array(b.buffer, b.byteOffset, b.length / 2),
};
let correct = 0;
const preds = [];
for (let i = 0; i < files.length; i++) {
  const npy = readNpy(fs.readFileSync(path.join(dir, files[i])), files[i]);
  be.setInputs([{ dtype: sig.inputs[0].dtype, shape: sig.inputs[0].shape, data: npy.data }]);
  const out = be.runOnce()[0];
  const v = views[out.dtype](new Uint8Array(out.data));
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k] > v[best]) best = k;
  preds.push(best);
  if (best === labels[i]) correct++;
}
if (errors.length) {
  console.error(errors.slice(0, 5).join('\n'));
  process.exit(1);
}
console.log(JSON.stringify({ samples: files.length, correct, accuracy: correct / files.length, predictions: preds }));
