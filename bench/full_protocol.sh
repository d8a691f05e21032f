#!/usr/bin/env bash
# The default model's full protocol on one model, in two lanes of one thread each (about an hour on the
# 2-core CPU; nothing else should run beside it if the seconds per video are to be read):
#   lane 1: the world scorer, 64 prompts a set, the grammar's wording and people's phrasing, `animate`
#           (start independent of the direction) and text-only `generate`, 16 frames;
#   lane 2: 256-frame drift (8 videos a mode), the picture protocol (64 off-palette pictures, motion-only
#           prompts), the rendered direction probe (8 frame 0s x 8 directions x 2 seeds).
# Usage: bash bench/full_protocol.sh MODEL TESTS OUT [SAMPLER FLAGS...]
#   SAMPLER FLAGS (such as --colour-lock 0) go to the world scorer and the picture protocol.
#   TESTS holds test-anywhere and test-people-anywhere (docs/research/third-generation.md: how they are made).
set -euo pipefail
MODEL=$1 TESTS=$2 OUT=$3
shift 3
FLAGS=("$@")
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
BENCH=$(cd "$(dirname "$0")" && pwd)
(
  python "$BENCH/world_eval.py" --model "$MODEL" --test "$TESTS/test-anywhere" \
    --people "$TESTS/test-people-anywhere" --videos 64 --out "$OUT/world.json" "${FLAGS[@]}" > "$OUT/world.log" 2>&1
) &
(
  python "$BENCH/world_eval.py" --model "$MODEL" --test "$TESTS/test-anywhere" --videos 8 --skip-grammar --long 256 \
    --long-videos 8 --out "$OUT/long.json" "${FLAGS[@]}" > "$OUT/long.log" 2>&1
  python "$BENCH/picture_eval.py" --model "$MODEL" --videos 64 --motion-only --out "$OUT/picture.json" "${FLAGS[@]}" \
    > "$OUT/picture.log" 2>&1
  python "$BENCH/direction_probe.py" --model "$MODEL" --test "$TESTS/test-anywhere" --cases 8 --seeds 2 \
    --frames 4 --out "$OUT/probe.json" > "$OUT/probe.log" 2>&1
) &
wait
python "$BENCH/world_eval.py" --report "$OUT/world.json" "$OUT/long.json"
python "$BENCH/picture_eval.py" --report "$OUT/picture.json"
tail -1 "$OUT/probe.log"
