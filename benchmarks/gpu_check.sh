#!/usr/bin/env bash
# The GPU check, one prepared script for a lent device (see docs/benchmarks.md, section GPU).
#   bash benchmarks/gpu_check.sh            # writes its results under $OUT (or ./gpu-results)
# 1. the environment; 2. harness bench (AMP, channels_last) next to timm's published figures;
# 3. the data path at GPU speed from the dataset cache (resnet50, 224 px, batch 256);
# 4. one trial per GPU (workers = GPU count) through the real CLI; 5. the meter's warm-up,
# compile and numerics figures (TF32, cuDNN autotuning) and the tests marked gpu.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }

python -c "import harness" 2>/dev/null || pip install -q -e '.[test]' >> "$OUT/install.log" 2>&1
log "environment"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$OUT/gpu_check.log"
python -c "import torch, timm; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'timm', timm.__version__)" \
    | tee -a "$OUT/gpu_check.log"

log "harness bench: inference and training, AMP + channels_last (timm's benchmark settings)"
for arch in resnet50 vit_base_patch16_224 convnext_tiny; do
    python -m harness bench "$arch" --batch-size 256 --precision amp \
        --memory-format channels_last --device cuda --no-store --format json \
        > "$OUT/bench-$arch.json" 2>> "$OUT/gpu_check.log" && \
        python -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; print(f\"{r['architecture']}: infer {r['infer_samples_per_s']:.0f}/s, train {r['train_samples_per_s']:.0f}/s, p50 {r['infer_latency_ms_p50']:.1f} ms\")" \
        "$OUT/bench-$arch.json" | tee -a "$OUT/gpu_check.log"
done

log "the meter: warm-up and compile seconds, TF32 and cuDNN autotuning on and off (5 runs each)"
for flags in "" "--tf32" "--tf32 --cudnn-benchmark"; do
    python -m harness bench resnet50 --batch-size 256 --precision fp32 --device cuda --runs 5 \
        --no-store $flags 2>> "$OUT/gpu_check.log" | sed "s/^/[${flags:-fp32 exact}] /" \
        | tee -a "$OUT/gpu_check.log"
done

log "the tests that need a GPU (deselected on CPU machines)"
python -m pytest -q -n 0 -m gpu -p no:cacheprovider 2>&1 | tail -5 | tee -a "$OUT/gpu_check.log"

log "data path at GPU speed: resnet50 from the dataset cache"
timeout 900 python benchmarks/gpu_data_path.py --images 20000 --batch 256 --steps 60 \
    | tee "$OUT/data_path.txt" | tee -a "$OUT/gpu_check.log"

log "one trial per GPU through the CLI"
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
cat > "$OUT/per_gpu.toml" <<TOML
[study]
name = "gpu-check"
task = "classification"
[dataset]
name = "digits"
[search]
sampler = "random"
pruner = "none"
architectures = ["resnet18"]
optimizers = ["adamw"]
[search.space.classification]
image_size = 32
[budget]
n_trials = $((gpus * 2))
epochs = 2
[device]
device = "cuda"
precision = "amp"
memory_format = "channels_last"
workers = $gpus
TOML
timeout 900 python -m harness run "$OUT/per_gpu.toml" --db "$OUT/gpu.db" 2>&1 | tail -12 | tee -a "$OUT/gpu_check.log"
python -m harness leaderboard --db "$OUT/gpu.db" --format md >> "$OUT/gpu_check.log" 2>&1
log "done: results in $OUT"
