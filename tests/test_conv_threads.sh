#!/usr/bin/env bash
# test_conv_threads.sh: the float conv-family kernels give the same bits with 1, 2 and 3
# threads (the GEMM core and the row-parallel depthwise/pool loops split outputs, never a
# reduction). Models big enough to be split are built with `kiln opmodel`.
set -uo pipefail
bin=${KILN_BIN:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "FAIL: KILN_BIN ($bin) is not an executable"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-conv-thr.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/cases.txt" <<'CASES'
ct_conv CONV_2D v1 ; in x f32[2,24,24,16] rand(-1,1) ; const w f32[32,3,3,16] rand(-1,1) ; \
    const b f32[32] rand(-1,1) ; out y f32[2,24,24,32] ; \
    opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.fused:i8=RELU
ct_conv1x1 CONV_2D v1 ; in x f32[1,32,32,32] rand(-1,1) ; const w f32[48,1,1,32] rand(-1,1) ; \
    const b f32[48] rand(-1,1) ; out y f32[1,32,32,48] ; \
    opts Conv2DOptions 0.padding:i8=VALID 1.stride_w:i32=1 2.stride_h:i32=1
ct_dw DEPTHWISE_CONV_2D v1 ; in x f32[1,40,40,24] rand(-1,1) ; const w f32[1,3,3,48] rand(-1,1) ; \
    const b f32[48] rand(-1,1) ; out y f32[1,20,20,48] ; \
    opts DepthwiseConv2DOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2 \
    3.depth_multiplier:i32=2 4.fused:i8=RELU6
ct_tconv TRANSPOSE_CONV v3 ; const shape i32[4] vals(1,32,32,32) ; \
    const w f32[32,3,3,32] rand(-1,1) ; in x f32[1,16,16,32] rand(-1,1) ; \
    const b f32[32] rand(-1,1) ; out y f32[1,32,32,32] ; \
    opts TransposeConvOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2
ct_fc FULLY_CONNECTED v1 ; in x f32[64,300] rand(-1,1) ; const w f32[200,300] rand(-1,1) ; \
    const b f32[200] rand(-1,1) ; out y f32[64,200] ; opts FullyConnectedOptions 0.fused:i8=NONE
ct_bmm BATCH_MATMUL v1 ; in a f32[3,100,120] rand(-1,1) ; in b f32[3,90,120] rand(-1,1) ; \
    out y f32[3,100,90] ; opts BatchMatMulOptions 0.adj_x:bool=false 1.adj_y:bool=true
ct_bmm_heads BATCH_MATMUL v1 ; in a f32[2,12,16,24] rand(-1,1) ; in b f32[12,24,20] rand(-1,1) ; \
    out y f32[2,12,16,20] ; opts BatchMatMulOptions 0.adj_x:bool=false 1.adj_y:bool=false
ct_maxpool MAX_POOL_2D v1 ; in x f32[2,33,33,16] rand(-1,1) ; out y f32[2,17,17,16] ; \
    opts Pool2DOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2 \
    3.filter_width:i32=3 4.filter_height:i32=3
ct_avgpool AVERAGE_POOL_2D v1 ; in x f32[2,33,33,16] rand(-1,1) ; out y f32[2,17,17,16] ; \
    opts Pool2DOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2 \
    3.filter_width:i32=3 4.filter_height:i32=3
CASES

if ! "$bin" opmodel "$tmp/cases.txt" --out "$tmp/m" > "$tmp/opmodel.log" 2>&1; then
  echo "FAIL: kiln opmodel: $(head -c 400 "$tmp/opmodel.log")"; exit 1
fi
pass=0 fail=0
for d in "$tmp"/m/ct_*/; do
  name=$(basename "$d")
  ins=()
  for x in "$d"/input_*.npy; do [ -e "$x" ] && ins+=("$x"); done
  ok=1
  for t in 1 2 3; do
    if ! "$bin" run "$d/model.tflite" "${ins[@]}" --threads "$t" --out "$tmp/out_${name}_$t" \
         > "$tmp/run.log" 2>&1; then
      echo "FAIL $name: kiln run --threads $t: $(head -c 300 "$tmp/run.log")"; ok=0; break
    fi
  done
  if [ $ok = 1 ]; then
    for t in 2 3; do
      if ! cmp -s "$tmp/out_${name}_1/000_y.npy" "$tmp/out_${name}_$t/000_y.npy"; then
        echo "FAIL $name: outputs differ between 1 and $t threads"; ok=0
      fi
    done
  fi
  if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" = 9 ]
