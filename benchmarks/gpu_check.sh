#!/usr/bin/env bash
# The CUDA paths of tascodec checked against the CPU, with throughput: one short run (a few minutes
# on one GPU; nothing is installed, only the project's own environment is used).
#
#   . .venv/bin/activate && bash benchmarks/gpu_check.sh [WORKDIR]
#
# Checks, each against the same computation on the CPU:
#   1. training: one full-batch gradient of the decoder loss (no sampling noise) agrees to 1e-3;
#      a 300-step TCA training (batch 512, hidden 1024) ends at a training loss within 10%
#      (the reparameterisation noise differs between devices), TF32 on as in tascodec.
#   2. inversion: the same decoder, 300 iterations on ~16K frames: codes within 2e-2, loss within 0.5%.
#   3. encode: `pipeline.encode(device=GPU, model=CPU.tasz)` gives the CPU codes (float16), and a
#      trained encode on CUDA records losses within 10% of the CPU run.
#   4. decode: `Container.decode(backend="torch", device=GPU)` and `TaszDataset(device=GPU)`
#      equal the numpy decoder within 1e-4 (relative to the features' scale).
# Prints PASS/FAIL per check and frames per second of each stage; exits 1 if any check fails,
# 2 (at once, before any work) when there is no CUDA device.
# GPU_CHECK_DRY=1 runs the script itself on a tiny dataset with the CPU standing in for CUDA (no check
# is meaningful then; it only tests that the script runs).
set -euo pipefail
PY=${PYTHON:-python}
if [ "${GPU_CHECK_DRY:-0}" != 1 ] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    "$PY" -c 'import torch; print(f"gpu_check: no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda}); nothing was checked")' 2>/dev/null \
        || echo "gpu_check: torch cannot be imported with $PY; nothing was checked"
    exit 2
fi
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
echo "gpu_check: working in $WORK"
"$PY" - "$WORK" <<'EOF'
import math, os, sys, time
from pathlib import Path
import numpy as np
import torch

import tascodec
from tascodec.data.layout import read_dataset
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.encoding.frames import FrameStore, feature_stats, load_chunk, training_batches
from tascodec.encoding.invert import encoder_means, invert
from tascodec.model.tca import TCA, train_tca
from tascodec.torch import TaszDataset

work = Path(sys.argv[1])
DRY = os.environ.get("GPU_CHECK_DRY") == "1"
GPU = "cpu" if DRY else "cuda"
if DRY:
    print("gpu_check: DRY RUN, the CPU stands in for CUDA")
else:
    print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
failed = []


def check(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    if not ok:
        failed.append(name)


def sync():
    if not DRY:
        torch.cuda.synchronize()


data = work / "gtea512"
if not data.exists():
    synthesize(data, like="gtea", dim=512, seed=0, **(dict(videos=6, length_scale=0.2) if DRY else {}))
ds = read_dataset(data)
mean, std = feature_stats(ds)
store = FrameStore(ds, mean, std, cache_bytes=1 << 30)
D, C = ds.feature_dim, len(ds.vocab)
print(f"data: {len(ds)} videos, {ds.total_frames} frames, D = {D}")

# 1. training --------------------------------------------------------------------------------------
batch = next(iter(training_batches(store, ds.videos, batch_size=4096, seed=0, buffer_frames=1 << 16)(0)))
grads = {}
for dev in ("cpu", GPU):
    net = TCA(D, C, seed=0).to(dev)
    x, l, c = (torch.from_numpy(a).to(dev) for a in batch)
    with torch.no_grad():
        mu, _ = net.encode(x, l, c)
    loss = (net.decode(mu, l, c) - x).square().sum(1).mean()
    loss.backward()
    grads[dev] = torch.cat([p.grad.flatten().cpu() for p in net.parameters() if p.grad is not None])
err = float((grads["cpu"] - grads[GPU]).norm() / grads["cpu"].norm())
check("train gradient", err < 1e-3, f"relative difference {err:.2e} (FP32, TF32 off)")

numpy_batches = training_batches(store, ds.videos, batch_size=512, seed=0, buffer_frames=1 << 16)


def batches(epoch):
    for x, l, c in numpy_batches(epoch):
        yield torch.from_numpy(x), torch.from_numpy(l), torch.from_numpy(c)


steps, trained, rate = 300, {}, {}
for dev in ("cpu", GPU):
    net = TCA(D, C, seed=0)
    t = time.perf_counter()
    stats = train_tca(net, batches, epochs=100, device=dev, seed=0, progress=False, max_steps=steps)
    if dev == GPU:
        sync()
    rate[dev] = steps * 512 / (time.perf_counter() - t)
    trained[dev] = (net.cpu().eval(), stats["train_recon"])
a, b = trained["cpu"][1], trained[GPU][1]
check("train 300 steps", abs(a - b) / a < 0.1, f"recon CPU {a:.2f}, CUDA {b:.2f}")
print(f"      train frames/s: CPU {rate['cpu']:,.0f}, CUDA {rate[GPU]:,.0f}")

# 2. inversion --------------------------------------------------------------------------------------
net = trained["cpu"][0]
videos, n = [], 0
for v in ds.videos:
    videos.append(v)
    n += ds.num_frames(v)
    if n > 16000:
        break
ch = load_chunk(store, videos, 8)
z0 = encoder_means(net, ch.x, ch.row, ch.row_label, ch.c, ch.num_rows)
out = {}
for dev in ("cpu", GPU):
    model = TCA.from_decoder(net.export_decoder(mean, std, "float16")).to(dev).eval()
    t = time.perf_counter()
    codes, info = invert(model, ch.x, ch.row, ch.row_label, ch.c, z0, iters=300, device=dev, progress=False)
    if dev == GPU:
        sync()
    out[dev] = (codes, info["loss_final"], ch.x.shape[0] * 300 / (time.perf_counter() - t))
dz = float(np.abs(out["cpu"][0] - out[GPU][0]).max())
dl = abs(out["cpu"][1] - out[GPU][1]) / out["cpu"][1]
check("invert", dz < 2e-2 and dl < 5e-3, f"max code difference {dz:.1e}, loss {out['cpu'][1]:.5f} vs "
      f"{out[GPU][1]:.5f}")
print(f"      inversion frame-iterations/s: CPU {out['cpu'][2]:,.0f}, CUDA {out[GPU][2]:,.0f}")

# 3. encode -----------------------------------------------------------------------------------------
small = dict(method="inversion", train_steps=200, hidden=512, progress=False, force=True)
t = time.perf_counter()
cpu_tasz = pipeline.encode(data, work / "cpu.tasz", device="cpu", **small)
cpu_s = time.perf_counter() - t
t = time.perf_counter()
gpu_tasz = pipeline.encode(data, work / "gpu.tasz", device=GPU, **small)
gpu_s = time.perf_counter() - t
la = tascodec.open(cpu_tasz).metadata["provenance"]["losses"]
lb = tascodec.open(gpu_tasz).metadata["provenance"]["losses"]
check("encode (trained)", all(abs(la[k] - lb[k]) / la[k] < 0.1 for k in ("train", "inversion")),
      f"losses CPU {la}, CUDA {lb}")
reused = pipeline.encode(data, work / "gpu_reused.tasz", device=GPU, model=cpu_tasz, init="random", method="inversion",
                         progress=False, force=True)
reused_cpu = pipeline.encode(data, work / "cpu_reused.tasz", device="cpu", model=cpu_tasz, init="random",
                             method="inversion",
                             progress=False, force=True)
ca, cb = tascodec.open(reused_cpu).content(), tascodec.open(reused).content()
dz = float(np.abs(ca.codes.astype(np.float32) - cb.codes.astype(np.float32)).max())
check("encode (reused decoder)", dz < 5e-2, f"max code difference {dz:.1e} (float16 codes)")
print(f"      encode wall s ({ds.total_frames} frames, 200 steps, 300 iterations): CPU {cpu_s:.1f}, CUDA {gpu_s:.1f}")

# 4. decode and TaszDataset ---------------------------------------------------------------------------
c = tascodec.open(cpu_tasz)
scale = max(float(np.abs(c.decode(v)).max()) for v in c.videos[:3])
worst = 0.0
t = time.perf_counter()
frames = 0
for v in c.videos:
    a = c.decode(v)
    b = c.decode(v, backend="torch", device=GPU)
    worst = max(worst, float(np.abs(a - np.asarray(b)).max()))
    frames += a.shape[0]
check("decode torch/cuda", worst < 1e-4 * scale, f"max difference {worst:.1e} (scale {scale:.1f})")
dsx = TaszDataset(cpu_tasz, device=GPU)
worst, t = 0.0, time.perf_counter()
for i in range(len(dsx)):
    item = dsx[i]
    assert item["features"].device.type == GPU
    worst = max(worst, float(np.abs(item["features"].cpu().numpy() - c.decode(item["video"])).max()))
sync()
check("TaszDataset(device='cuda')", worst < 1e-4 * scale, f"max difference {worst:.1e}")
t = time.perf_counter()
for _ in range(3):
    for i in range(len(dsx)):
        dsx[i]
sync()
print(f"      decode frames/s on CUDA (TaszDataset items): {3 * frames / (time.perf_counter() - t):,.0f}")

print("gpu_check:", "all checks passed" if not failed else f"FAILED: {', '.join(failed)}")
sys.exit(1 if failed else 0)
EOF
