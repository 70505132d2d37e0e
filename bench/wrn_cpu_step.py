"""One step of the paper profile's WRN-28-10 on generated CIFAR-format data, on the CPU: time and peak memory.

    python bench/wrn_cpu_step.py train --batch 100                 # SGD steps of the paper's recipe
    python bench/wrn_cpu_step.py attack --batch 100 --n-attack 1   # FGM steps: the gradient over S_A realisations

Each run is one process, so that its peak resident memory (ru_maxrss) is that of the one step measured. The data is a
folder written by `snn_robust.data.write_generated_cifar10` in a temporary folder (generated CIFAR-format data from
FashionMNIST, never CIFAR-10); the model has the paper profile's configuration (`experiment_config('dropout0.3',
'paper')`) with fresh weights: the cost of a step does not depend on them.
"""
import argparse
import json
import os
import resource
import tempfile
import time

import torch

from snn_robust.attacks import attack_gradient, fgm_step
from snn_robust.data import load_split, write_generated_cifar10
from snn_robust.experiments import experiment_config
from snn_robust.paper import TABLE_ETA
from snn_robust.train import build_model, make_optimizer, train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('step', choices=('train', 'attack'))
    parser.add_argument('--batch', type=int, default=100, help='images in the step (default: 100, the WRN batch size)')
    parser.add_argument('--n-attack', type=int, default=1, help='attack samples S_A (attack only; default: 1)')
    parser.add_argument('--repeat', type=int, default=2, help='steps timed one by one (default: 2; the first one '
                        'also pays for one-time set-up, e.g. oneDNN kernels)')
    args = parser.parse_args()
    if min(args.batch, args.n_attack, args.repeat) < 1:
        parser.error('--batch, --n-attack and --repeat must be positive integers')
    with tempfile.TemporaryDirectory() as d:
        write_generated_cifar10(d, n_train=max(args.batch, 5), n_test=args.batch)
        os.environ['SNN_ROBUST_DATA'] = d
        config = experiment_config('dropout0.3', 'paper')
        split = load_split('cifar10', 'train' if args.step == 'train' else 'test')
    model, g = build_model(config), torch.Generator().manual_seed(0)
    model.train(args.step == 'train')
    optimizer, seconds = make_optimizer(model, config) if args.step == 'train' else None, []
    for _ in range(args.repeat):
        start = time.perf_counter()
        if args.step == 'train':  # augmentation, the cross-entropy of one dropout realisation, the SGD update
            loss = train_step(model, config, split.x, split.y, 50_000, g)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            value = loss.item()
        else:  # the gradient over S_A realisations and the step; value: the mean L2 length of the step (<= eta)
            grad = attack_gradient(model, split.x, split.y, args.n_attack, generator=g)
            value = (fgm_step(split.x, grad, TABLE_ETA['cifar10']) - split.x).flatten(1).norm(dim=1).mean().item()
        seconds.append(round(time.perf_counter() - start, 2))
    print(json.dumps(dict(step=args.step, model=f'WRN-{config.depth}-{config.widen_factor}', batch=args.batch,
                          n_attack=args.n_attack if args.step == 'attack' else None, seconds=seconds,
                          peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                          value=value, finite=bool(torch.isfinite(torch.tensor(value))),
                          threads=torch.get_num_threads(), load_average=os.getloadavg())))


if __name__ == '__main__':
    main()
