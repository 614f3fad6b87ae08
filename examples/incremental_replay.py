"""Learn activities one after another, replaying condensed data of the earlier ones.

    python examples/incremental_replay.py gtea/ --activity-pattern '^S\\d+_([^_]+)_' --epochs 10

1. Encode the training split once, then split the container by activity and keep the most diverse
   half of each activity's videos: that is the replay memory (a few hundred KB per activity).
2. For each activity in turn, train the same MS-TCN on that activity's original videos plus the
   restored videos of every earlier activity (or, with --no-replay, on the new activity alone).
3. After each step, score the model on the test videos of all activities seen so far.

Without replay, accuracy on earlier activities collapses (catastrophic forgetting); with the
condensed replay memory it is largely kept, at a tiny fraction of the original storage.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from tascodec import read_dataset
from tascodec.bench.mstcn import MSTCN, mstcn_loss
from tascodec.bench.runner import collate, evaluate_model
from tascodec.encoding.pipeline import encode
from tascodec.subsetting import split_file, subset_file
from tascodec.torch import TaszDataset


class Replay:
    """(features, labels) per video of a replay file, restored as TaszDataset restores for training
    (smoothed across boundaries, fresh noise filling on every read)."""

    def __init__(self, path):
        self.ds = TaszDataset(path)

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        item = self.ds[i]
        return item["features"], item["labels"]


def train_steps(model, opt, videos, epochs: int, seed: int) -> None:
    """A few epochs over ``videos`` (a sequence of (features (T, D), labels (T,))), batch size 1."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for i in torch.randperm(len(videos), generator=g).tolist():
            x, y, mask = collate([videos[i]])
            loss = mstcn_loss(model(x, mask), y, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--activity-pattern", required=True, help="regex whose first group is the activity")
    ap.add_argument("--epochs", type=int, default=10, help="MS-TCN epochs per activity")
    ap.add_argument("--target-ratio", type=float, default=None,
                    help="the container's size as a share of the raw features (default: tascodec's, 0.005)")
    ap.add_argument("--ratio", type=float, default=0.5, help="share of each activity's videos replayed")
    ap.add_argument("--no-replay", action="store_true", help="the forgetting baseline")
    ap.add_argument("--work", help="folder for the containers (default: temporary)")
    args = ap.parse_args()

    torch.manual_seed(0)
    work = Path(args.work or tempfile.mkdtemp(prefix="tasz-replay-"))
    train = read_dataset(args.data, activity_pattern=args.activity_pattern)
    test = read_dataset(args.data, part="test", activity_pattern=args.activity_pattern)
    activities = sorted({train.activity(v) for v in train.videos})

    extra = {"target_ratio": args.target_ratio} if args.target_ratio else {}
    full = encode(args.data, work / "train.tasz", activity_pattern=args.activity_pattern, progress=False,
                  force=True, **extra)
    memory = {}
    for activity, path in split_file(full, work / "by-activity", force=True).items():
        memory[activity] = subset_file(path, work / f"replay-{path.stem}.tasz", ratio=args.ratio, force=True).output
    size = sum(p.stat().st_size for p in memory.values())
    print(f"replay memory: {len(memory)} activities, {size / 1e6:.2f} MB "
          f"(original training features: {4 * train.feature_dim * train.total_frames / 1e6:.1f} MB)")

    model = MSTCN(train.feature_dim, len(train.vocab), num_stages=2, num_layers=8)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    for step, activity in enumerate(activities):
        videos = [(train.features(v), train.labels(v)) for v in train.videos if train.activity(v) == activity]
        if not args.no_replay and step:
            videos = torch.utils.data.ConcatDataset([videos] + [Replay(memory[a]) for a in activities[:step]])
        train_steps(model, opt, videos, args.epochs, seed=step)
        seen = [v for v in test.videos if test.activity(v) in activities[: step + 1]]
        scores = evaluate_model(model, [(test.features(v), test.labels(v)) for v in seen], test.background_ids)
        first = [v for v in test.videos if test.activity(v) == activities[0]]
        old = evaluate_model(model, [(test.features(v), test.labels(v)) for v in first], test.background_ids)
        print(f"after {activity:<10} ({len(videos):3d} training videos): acc on all seen {scores['acc']:5.1f}  "
              f"on the first activity ({activities[0]}) {old['acc']:5.1f}")


if __name__ == "__main__":
    main()
