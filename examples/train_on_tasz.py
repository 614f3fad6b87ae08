"""Train a segmentation model on a .tasz file with an ordinary PyTorch loop.

    python examples/train_on_tasz.py gtea.tasz --epochs 20 --workers 2
    python examples/train_on_tasz.py gtea.tasz --test-data gtea/     # also score on real test videos

The container is a map-style Dataset: any model and loop works. Here: MS-TCN, Adam, padding collate.
"""
from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader

from tascodec.bench.mstcn import MSTCN, mstcn_loss
from tascodec.torch import TaszDataset, collate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasz")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--test-data", help="an MS-TCN dataset folder: report scores on its test split")
    args = ap.parse_args()

    torch.manual_seed(0)
    ds = TaszDataset(args.tasz, cache=True, cache_dtype=torch.float16)
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, collate_fn=collate,
                        num_workers=args.workers, persistent_workers=args.workers > 0)
    model = MSTCN(ds.feature_dim, len(ds.vocab), num_stages=2, num_layers=8)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)

    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for batch in loader:
            x = batch["features"].transpose(1, 2)       # (B, D, T)
            mask = batch["mask"].unsqueeze(1)           # (B, 1, T)
            loss = mstcn_loss(model(x, mask), batch["labels"], mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {epoch + 1}: loss {total / len(loader):.4f}")

    if args.test_data:
        from tascodec import read_dataset
        from tascodec.bench.runner import dataset_source, evaluate_model

        test = read_dataset(args.test_data, part="test")
        scores = evaluate_model(model, dataset_source(test), test.background_ids)
        print("test " + "  ".join(f"{k} {v:.1f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
