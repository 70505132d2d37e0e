"""Seconds of one epoch of the paper profile's WRN-28-10 (dropout 0.3) through the package's trainer.

On generated CIFAR-format data (`write_generated_cifar10`, from FashionMNIST), so it runs without CIFAR-10:
    python bench/wrn_epoch.py [n_train] [device] [precision]     # default: 50000 cuda fp32 ('bf16': channels-last too)
"""
import dataclasses, os, sys, tempfile, time
from pathlib import Path

import torch

from snn_robust.data import write_generated_cifar10

n_train, device = (int(sys.argv[1]) if len(sys.argv) > 1 else 50_000), (sys.argv[2] if len(sys.argv) > 2 else 'cuda')
precision = sys.argv[3] if len(sys.argv) > 3 else 'fp32'
work = Path(tempfile.mkdtemp(prefix='wrn_epoch_'))
start = time.time()
write_generated_cifar10(work / 'data', n_train=n_train, n_test=100)
print(f'generated {n_train} images in {time.time() - start:.1f} s', flush=True)
os.environ['SNN_ROBUST_DATA'] = str(work / 'data')
from snn_robust.experiments import model_config  # noqa: E402 (reads the data folder set above)
from snn_robust.train import train  # noqa: E402

config = dataclasses.replace(model_config('dropout0.3', 'paper', 0), epochs=1, precision=precision,
                             **({} if n_train == 50_000 else dict(n_train=n_train)))
print(config, flush=True)
if device == 'cuda': torch.cuda.reset_peak_memory_stats()
start = time.time()
train(config, device=device, cache=work / 'cache', progress=False)
if device == 'cuda': torch.cuda.synchronize()
print(f'one epoch: {time.time() - start:.1f} s on {n_train} images ({device}, {precision})', flush=True)
if device == 'cuda':
    print(f'peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB on {torch.cuda.get_device_name()}')
