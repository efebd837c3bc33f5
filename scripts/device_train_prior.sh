#!/bin/bash
# GPU training of three structure generators side by side on one GPU from a training pack
# (the packaged `prior` was candidate c: NVIDIA H200, 7 min; docs/cli.md).
# Write the pack on a machine with RDKit and qm9pack first:
#   python scripts/train_structure_prior.py --write-pack .devpack/pack.npz --variants 8
# then, on the GPU machine (needs only torch, numpy, safetensors): OUT=DIR bash this-script
export PYTHONPATH=src PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/prior-gpu}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, numpy; print(torch.__version__, numpy.__version__, torch.cuda.is_available())"
S=scripts/train_structure_prior.py
python3 $S --pack .devpack/pack.npz --device cuda --out /tmp/smoke --epochs 1 --max-train 512 \
  --d-model 32 --layers 1 --batch-size 128 --threads 2 || { echo SMOKE FAILED; exit 1; }
M=${MINUTES:-6.8}
python3 $S --pack .devpack/pack.npz --device cuda --out $OUT/a --epochs 200 --minutes $M \
  --d-model 192 --layers 4 --batch-size 256 --lr 1e-3 --threads 4 > $OUT/a.log 2>&1 &
python3 $S --pack .devpack/pack.npz --device cuda --out $OUT/b --epochs 200 --minutes $M \
  --d-model 256 --layers 6 --batch-size 256 --lr 7e-4 --threads 4 > $OUT/b.log 2>&1 &
python3 $S --pack .devpack/pack.npz --device cuda --out $OUT/c --epochs 200 --minutes $M \
  --d-model 256 --layers 4 --batch-size 256 --lr 1e-3 --threads 4 > $OUT/c.log 2>&1 &
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; tail -n 2 $OUT/*.log
wait
rm -f $OUT/*/MODEL_CARD.md
for x in a b c; do echo == $x; grep -o "epoch [0-9]*: .*" $OUT/$x.log | tail -n 3; tail -n 1 $OUT/$x.log; done
cat $OUT/a.log $OUT/b.log $OUT/c.log > $OUT/train.log; rm $OUT/?.log
ls -la $OUT $OUT/*
