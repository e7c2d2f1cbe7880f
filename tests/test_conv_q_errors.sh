#!/usr/bin/env bash
# test_conv_q_errors.sh: the quantized conv-family kernels (src/kernels/ref/conv_q.c) reject bad
# quantization and shapes in prepare with a one-line message: each case builds a single-op model
# with `kiln opmodel`, runs `kiln run` on it (both dialects) and expects a failure whose message
# has a given text.
set -uo pipefail
bin=${KILN_BIN:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "FAIL: KILN_BIN ($bin) is not an executable"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-conv-q-err.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# name | expected text | case line (opmodel format, docs/opmodel.md)
cases=$(cat <<'CASES'
nscales|filter has 2 per-channel scales, expected 3|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[3,2,2,2] rand(-127,127) q([0.01,0.02],0,dim=3) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
qdim|filter quantized_dimension is 3, expected 0|CONV_2D v3 ; in x i8[1,5,5,3] q(0.02,0) ; const w i8[3,3,3,3] rand(-127,127) q([0.01,0.02,0.03],0,dim=3) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
noquant|input tensor 'x' has no quantization parameters|CONV_2D v3 ; in x i8[1,5,5,2] ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
zp_range|zero point 300 outside its type|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,300) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
w_zp|int8 filter zero point must be 0|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,4) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
i16_zp|int16 input and output must have zero point 0|CONV_2D v4 ; in x i16[1,5,5,2] q(0.0002,3) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i64[3] rand(-9,9) q(0.000002,0) ; out y i16[1,5,5,3] q(0.0005,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
bias_type|bias has type|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i64[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
bias_size|bias has 4 elements, expected 3|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[4] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
stride0|stride 0x1 must be positive|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=0
act|fused activation 4 is not supported|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.fused:i8=TANH
valid_fit|does not fit input 2x2 with VALID padding|CONV_2D v3 ; in x i8[1,2,2,2] q(0.02,0) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,1,1,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=VALID 1.stride_w:i32=1 2.stride_h:i32=1
types|with input int8 and filter int16 has no kernel|CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i16[3,3,3,2] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
u8_perchannel|uint8 filters must be quantized per tensor|CONV_2D v1 ; in x u8[1,5,5,2] q(0.02,128) ; const w u8[3,3,3,2] rand(0,255) q([0.01,0.02,0.03],[128,128,128],dim=0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y u8[1,5,5,3] q(0.05,128) ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
dw_channels|depthwise output channels 3 are not a multiple of input channels 2|DEPTHWISE_CONV_2D v3 ; in x i8[1,5,5,2] q(0.02,0) ; const w i8[1,3,3,3] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,5,5,3] q(0.05,0) ; opts DepthwiseConv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.depth_multiplier:i32=1
dw_hybrid_pt|hybrid DEPTHWISE_CONV_2D needs per-channel filter scales|DEPTHWISE_CONV_2D v6 ; in x f32[1,5,5,2] ; const w i8[1,3,3,2] rand(-127,127) q(0.01,0) ; const b f32[2] rand(-1,1) ; out y f32[1,5,5,2] ; opts DepthwiseConv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.depth_multiplier:i32=1
fc_depth|input size 14 is not a multiple of depth 4|FULLY_CONNECTED v4 ; in x i8[2,7] q(0.02,0) ; const w i8[3,4] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[2,3] q(0.05,0) ; opts FullyConnectedOptions 0.fused:i8=NONE
fc_format|shuffled weights format is not supported|FULLY_CONNECTED v4 ; in x i8[2,4] q(0.02,0) ; const w i8[3,4] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[2,3] q(0.05,0) ; opts FullyConnectedOptions 0.fused:i8=NONE 1.weights_format:i8=1
fc_hybrid_bias|bias has type int32, expected float32|FULLY_CONNECTED v3 ; in x f32[2,4] ; const w i8[3,4] rand(-127,127) q(0.01,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y f32[2,3] ; opts FullyConnectedOptions 0.fused:i8=NONE
tconv_i16_bias|int16 TRANSPOSE_CONV needs an int64 bias|TRANSPOSE_CONV v3 ; const shape i32[4] vals(1,8,8,3) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; in x i16[1,4,4,2] q(0.0002,0) ; const b i32[3] rand(-9,9) q(0.000002,0) ; out y i16[1,8,8,3] q(0.0005,0) ; opts TransposeConvOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2
tconv_shape|does not fit input channels|TRANSPOSE_CONV v3 ; const shape i32[4] vals(1,8,8,4) ; const w i8[3,3,3,2] rand(-127,127) q(0.01,0) ; in x i8[1,4,4,2] q(0.02,0) ; const b i32[3] rand(-9,9) q(0.0002,0) ; out y i8[1,8,8,3] q(0.05,0) ; opts TransposeConvOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2
bmm_k|inner dimensions differ (4 vs 5)|BATCH_MATMUL v2 ; in a i8[2,3,4] q(0.02,0) ; in b i8[2,5,6] q(0.02,0) ; out y i8[2,3,6] q(0.05,0) ; opts BatchMatMulOptions 0.adj_x:bool=false
bmm_i16_zp|int16 BATCH_MATMUL needs zero points 0|BATCH_MATMUL v3 ; in a i16[2,3,4] q(0.0002,5) ; in b i16[2,4,6] q(0.0002,0) ; out y i16[2,3,6] q(0.0005,0) ; opts BatchMatMulOptions 0.adj_x:bool=false
CASES
)

pass=0 fail=0
while IFS='|' read -r name want line; do
  [ -n "$name" ] || continue
  printf 'cqe_%s %s\n' "$name" "$line" > "$tmp/$name.txt"
  if ! "$bin" opmodel "$tmp/$name.txt" --out "$tmp/m" > "$tmp/$name.log" 2>&1; then
    echo "FAIL $name: kiln opmodel could not build the case: $(head -c 300 "$tmp/$name.log")"
    fail=$((fail + 1)); continue
  fi
  d=$tmp/m/cqe_$name
  ins=()
  for x in "$d"/input_*.npy; do [ -e "$x" ] && ins+=("$x"); done
  for arith in tflm litert; do
    if "$bin" run "$d/model.tflite" "${ins[@]}" --arith "$arith" > "$tmp/$name.out" 2>&1; then
      echo "FAIL $name ($arith): kiln run accepted the model"
      fail=$((fail + 1)); continue
    fi
    msg=$(cat "$tmp/$name.out")
    if [[ $msg != *"$want"* ]]; then
      echo "FAIL $name ($arith): message lacks '$want': $msg"
      fail=$((fail + 1)); continue
    fi
    if [ "$(printf '%s\n' "$msg" | wc -l)" -ne 1 ]; then
      echo "FAIL $name ($arith): message is not one line: $msg"
      fail=$((fail + 1)); continue
    fi
    pass=$((pass + 1))
  done
done <<< "$cases"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
