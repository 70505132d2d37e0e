"""A training process for the resume and lock tests: `python train_child.py '<json options>'`.

Options: cache, config (TrainConfig fields); hang_at_step (n: write `marker` and sleep before the n-th optimisation step, to be
killed there); hang_in_save (write half a checkpoint, write `marker` and sleep, to be killed mid-write); barrier (a folder: wait
until `parties` processes have arrived before training). Prints one JSON line: the optimisation steps it ran and whether it
waited for a lock.
"""
import json
import sys
import time
from pathlib import Path

import torch

import snn_robust.train as T

opts = json.loads(sys.argv[1])
config = T.TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in opts['config'].items()})
steps = [0]
original_step = T.train_step


def counting_step(*args, **kwargs):
    steps[0] += 1
    if steps[0] == opts.get('hang_at_step'):
        Path(opts['marker']).write_text(str(steps[0])); time.sleep(600)
    return original_step(*args, **kwargs)


T.train_step = counting_step
if opts.get('hang_in_save'):
    def half_save(obj, f):
        f.write(b'half a checkpoint' * 1000); f.flush()
        Path(opts['marker']).write_text('saving'); time.sleep(600)
    torch.save = half_save
if opts.get('barrier'):
    barrier = Path(opts['barrier']); (barrier / str(time.time_ns())).touch()
    while len(list(barrier.iterdir())) < opts['parties']: time.sleep(0.01)
T.train(config, 'cpu', opts['cache'], progress=True)
print(json.dumps(dict(steps=steps[0])))
