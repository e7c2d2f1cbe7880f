#!/usr/bin/env bash
# test_conv_errors.sh: the float conv-family kernels (src/kernels/ref/conv.c) reject bad
# parameters in prepare with a one-line message: each case builds a single-op model with
# `kiln opmodel`, runs `kiln run` on it and expects a failure whose message has a given text.
set -uo pipefail
bin=${KILN_BIN:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "FAIL: KILN_BIN ($bin) is not an executable"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-conv-err.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# name | expected text | case line (opmodel format, docs/opmodel.md)
cases=$(cat <<'CASES'
stride0|stride 0x1 must be positive|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,3,2] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=0
dilation0|dilation|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,3,2] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 4.dilation_w:i32=0
padding|padding 7 is not SAME or VALID|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,3,2] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=7 1.stride_w:i32=1 2.stride_h:i32=1
act|fused activation 9 is not valid|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,3,2] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.fused:i8=9
channels|does not divide the input's 2|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,3,3] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
bias|bias has 4 elements, expected 3|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,3,2] rand(-1,1) ; const b f32[4] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
filter_rank|filter has 3 dims, expected 4|CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[3,3,2] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts Conv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1
too_big|does not fit input|CONV_2D v1 ; in x f32[1,2,2,2] ; const w f32[3,3,5,2] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,1,1,3] ; opts Conv2DOptions 0.padding:i8=VALID 1.stride_w:i32=1 2.stride_h:i32=3
dw_dim0|filter dim 0 is 2, expected 1|DEPTHWISE_CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[2,3,3,2] rand(-1,1) ; const b f32[2] rand(-1,1) ; out y f32[1,5,5,2] ; opts DepthwiseConv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.depth_multiplier:i32=1
dw_mult|not a multiple of the input's 2|DEPTHWISE_CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[1,3,3,3] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[1,5,5,3] ; opts DepthwiseConv2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.depth_multiplier:i32=1
dw_stride|must be positive|DEPTHWISE_CONV_2D v1 ; in x f32[1,5,5,2] ; const w f32[1,3,3,2] rand(-1,1) ; const b f32[2] rand(-1,1) ; out y f32[1,5,5,2] ; opts DepthwiseConv2DOptions 0.padding:i8=SAME 1.stride_w:i32=-1 2.stride_h:i32=1
pool_size|filter size 0x2 must be positive|MAX_POOL_2D v1 ; in x f32[1,5,5,2] ; out y f32[1,5,5,2] ; opts Pool2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.filter_width:i32=2 4.filter_height:i32=0
pool_stride|stride 1x0 must be positive|AVERAGE_POOL_2D v1 ; in x f32[1,5,5,2] ; out y f32[1,5,5,2] ; opts Pool2DOptions 0.padding:i8=SAME 1.stride_w:i32=0 2.stride_h:i32=1 3.filter_width:i32=2 4.filter_height:i32=2
pool_rank|input has 3 dims, expected 4|AVERAGE_POOL_2D v1 ; in x f32[5,5,2] ; out y f32[5,5,2] ; opts Pool2DOptions 0.padding:i8=SAME 1.stride_w:i32=1 2.stride_h:i32=1 3.filter_width:i32=2 4.filter_height:i32=2
fc_depth|not a multiple of the weights' input size 4|FULLY_CONNECTED v1 ; in x f32[2,7] ; const w f32[3,4] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[2,3] ; opts FullyConnectedOptions 0.fused:i8=NONE
fc_keep|keep_num_dims: input's last dim 6 is not the weights' input size 3|FULLY_CONNECTED v5 ; in x f32[2,6] ; const w f32[3,3] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[4,3] ; opts FullyConnectedOptions 0.fused:i8=NONE 2.keep_num_dims:bool=true
fc_bias|bias has 2 elements, expected 3|FULLY_CONNECTED v1 ; in x f32[2,4] ; const w f32[3,4] rand(-1,1) ; const b f32[2] rand(-1,1) ; out y f32[2,3] ; opts FullyConnectedOptions 0.fused:i8=NONE
fc_format|weights_format 1 is not supported|FULLY_CONNECTED v1 ; in x f32[2,4] ; const w f32[3,4] rand(-1,1) ; const b f32[3] rand(-1,1) ; out y f32[2,3] ; opts FullyConnectedOptions 0.fused:i8=NONE 1.weights_format:i8=1
bmm_k|contraction sizes differ: lhs 4, rhs 5|BATCH_MATMUL v1 ; in a f32[2,3,4] ; in b f32[2,5,6] ; out y f32[2,3,6] ; opts BatchMatMulOptions 0.adj_x:bool=false
bmm_bcast|batch dims 2 and 3 do not broadcast|BATCH_MATMUL v1 ; in a f32[2,3,4] ; in b f32[3,4,6] ; out y f32[2,3,6] ; opts BatchMatMulOptions 0.adj_x:bool=false
tconv_shape|output_shape [1,8,8,4] does not match|TRANSPOSE_CONV v1 ; const shape i32[4] vals(1,8,8,4) ; const w f32[3,3,3,2] rand(-1,1) ; in x f32[1,4,4,2] ; out y f32[1,8,8,3] ; opts TransposeConvOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2
tconv_ch|filter has 3 input channels, input has 2|TRANSPOSE_CONV v1 ; const shape i32[4] vals(1,8,8,3) ; const w f32[3,3,3,3] rand(-1,1) ; in x f32[1,4,4,2] ; out y f32[1,8,8,3] ; opts TransposeConvOptions 0.padding:i8=SAME 1.stride_w:i32=2 2.stride_h:i32=2
tconv_stride|stride 2x0 must be positive|TRANSPOSE_CONV v1 ; const shape i32[4] vals(1,8,8,3) ; const w f32[3,3,3,2] rand(-1,1) ; in x f32[1,4,4,2] ; out y f32[1,8,8,3] ; opts TransposeConvOptions 0.padding:i8=SAME 1.stride_w:i32=0 2.stride_h:i32=2
CASES
)

pass=0 fail=0
while IFS='|' read -r name want line; do
  [ -n "$name" ] || continue
  printf 'ce_%s %s\n' "$name" "$line" > "$tmp/$name.txt"
  if ! "$bin" opmodel "$tmp/$name.txt" --out "$tmp/m" > "$tmp/$name.log" 2>&1; then
    echo "FAIL $name: kiln opmodel could not build the case: $(head -c 300 "$tmp/$name.log")"
    fail=$((fail + 1)); continue
  fi
  d=$tmp/m/ce_$name
  ins=()
  for x in "$d"/input_*.npy; do [ -e "$x" ] && ins+=("$x"); done
  if "$bin" run "$d/model.tflite" "${ins[@]}" > "$tmp/$name.out" 2>&1; then
    echo "FAIL $name: kiln run accepted the model"
    fail=$((fail + 1)); continue
  fi
  msg=$(cat "$tmp/$name.out")
  if [[ $msg != *"$want"* ]]; then
    echo "FAIL $name: message lacks '$want': $msg"
    fail=$((fail + 1)); continue
  fi
  if [ "$(printf '%s\n' "$msg" | wc -l)" -ne 1 ]; then
    echo "FAIL $name: message is not one line: $msg"
    fail=$((fail + 1)); continue
  fi
  pass=$((pass + 1))
done <<< "$cases"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
