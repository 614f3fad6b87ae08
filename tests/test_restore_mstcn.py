"""End to end: encode, ``tasz decode -o DIR --with-test DATA``, then MS-TCN's own pipeline on DIR.

``BatchGenerator``, ``predict`` and ``evaluate_folder`` below reimplement MS-TCN's ``batch_gen.py``,
``Trainer.predict`` and ``eval.py`` (github yabufarha/ms-tcn): string paths under one data folder,
``read().split('\\n')[:-1]`` for bundles, mapping and ground truth, ``[:, ::sample_rate]``,
predictions repeated ``sample_rate`` times back to the full rate and written as
"### Frame level recognition: ###" files, scored against the full-rate test ground truth, here with
``tascodec.metrics``. Sample rate 2 (MS-TCN's setting for 50Salads) on a container encoded at rate 2.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from click.testing import CliRunner

from tascodec.bench.mstcn import MSTCN, mstcn_loss
from tascodec.cli.main import cli
from tascodec.data.synthetic import synthesize
from tascodec.encoding import pipeline
from tascodec.metrics import evaluate

SAMPLE_RATE = 2


def lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().split("\n")[:-1]


class BatchGenerator:
    """MS-TCN's batch generator: padded ``(B, D, T)`` inputs, ``-100`` padded targets, ``(B, C, T)`` mask."""

    def __init__(self, num_classes, actions_dict, gt_path, features_path, sample_rate):
        self.num_classes, self.actions_dict = num_classes, actions_dict
        self.gt_path, self.features_path, self.sample_rate = gt_path, features_path, sample_rate
        self.list_of_examples, self.index = [], 0

    def read_data(self, vid_list_file):
        self.list_of_examples = lines(vid_list_file)
        random.shuffle(self.list_of_examples)

    def has_next(self):
        return self.index < len(self.list_of_examples)

    def next_batch(self, batch_size):
        batch = self.list_of_examples[self.index:self.index + batch_size]
        self.index += batch_size
        inputs, targets = [], []
        for vid in batch:
            features = np.load(self.features_path + vid.split(".")[0] + ".npy")
            content = lines(self.gt_path + vid)
            classes = np.zeros(min(np.shape(features)[1], len(content)))
            for i in range(len(classes)):
                classes[i] = self.actions_dict[content[i]]
            inputs.append(features[:, ::self.sample_rate])
            targets.append(classes[::self.sample_rate])
        T = max(map(len, targets))
        x = torch.zeros(len(inputs), np.shape(inputs[0])[0], T, dtype=torch.float)
        y = torch.ones(len(inputs), T, dtype=torch.long) * (-100)
        mask = torch.zeros(len(inputs), self.num_classes, T, dtype=torch.float)
        for i in range(len(inputs)):
            x[i, :, :np.shape(inputs[i])[1]] = torch.from_numpy(inputs[i])
            y[i, :np.shape(targets[i])[0]] = torch.from_numpy(targets[i])
            mask[i, :, :np.shape(targets[i])[0]] = 1
        return x, y, mask


def predict(model, results_dir, features_path, vid_list_file, actions_dict, sample_rate):
    index2label = {v: k for k, v in actions_dict.items()}
    model.eval()
    with torch.no_grad():
        for vid in lines(vid_list_file):
            features = np.load(features_path + vid.split(".")[0] + ".npy")[:, ::sample_rate]
            x = torch.tensor(features, dtype=torch.float).unsqueeze(0)
            predicted = model(x, torch.ones(1, 1, x.shape[2]))[-1].argmax(1).squeeze(0)
            recognition = [index2label[int(p)] for p in predicted for _ in range(sample_rate)]
            with open(results_dir + "/" + vid.split("/")[-1].split(".")[0], "w") as f:
                f.write("### Frame level recognition: ###\n")
                f.write(" ".join(recognition))


def evaluate_folder(data_root, results_dir, split, actions_dict, background):
    predictions, targets = [], []
    for vid in lines(data_root + f"splits/test.split{split}.bundle"):
        gt = lines(data_root + "groundTruth/" + vid)
        with open(results_dir + "/" + vid.split(".")[0]) as f:
            recog = f.read().split("\n")[1].split()
        assert len(recog) >= len(gt)  # eval.py indexes the prediction over the ground truth's frames
        targets.append(np.array([actions_dict[a] for a in gt]))
        predictions.append(np.array([actions_dict[a] for a in recog[:len(gt)]]))
    return evaluate(predictions, targets, background=[actions_dict[b] for b in background])


def test_mstcn_trains_predicts_and_evaluates_on_a_restored_folder(tmp_path):
    bg = ("action_start", "action_end")
    data = synthesize(tmp_path / "orig" / "50salads", like="50salads", videos=8, dim=16, length_scale=0.1, seed=3)
    tasz = pipeline.encode(data, tmp_path / "salads.tasz", sample_rate=SAMPLE_RATE, background=bg, epochs=2,
                           iters=5, batch_size=64, hidden=32, latent_dim=8, progress=False, device="cpu")
    root = tmp_path / "data" / "50salads"
    (tmp_path / "data").mkdir()
    r = CliRunner().invoke(cli, ["decode", str(tasz), "-o", str(root), "--with-test", str(data)])
    assert r.exit_code == 0, r.output

    # MS-TCN's main.py, with its "./data/"+dataset paths under tmp_path
    data_root = str(root) + "/"
    actions_dict = {a.split()[1]: int(a.split()[0]) for a in lines(data_root + "mapping.txt")}
    num_classes = len(actions_dict)
    random.seed(0)
    torch.manual_seed(0)
    model = MSTCN(16, num_classes, num_stages=2, num_layers=3, num_f_maps=8, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    batch_gen = BatchGenerator(num_classes, actions_dict, data_root + "groundTruth/", data_root + "features/",
                               SAMPLE_RATE)
    batch_gen.read_data(data_root + "splits/train.split1.bundle")
    seen = 0
    model.train()
    while batch_gen.has_next():  # one epoch
        x, y, mask = batch_gen.next_batch(2)
        loss = mstcn_loss(model(x, mask[:, 0:1, :]), y, mask[:, 0:1, :])
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
        seen += x.shape[0]
    assert seen == len(lines(data_root + "splits/train.split1.bundle")) > 0

    results = tmp_path / "results"
    results.mkdir()
    predict(model, str(results), data_root + "features/", data_root + "splits/test.split1.bundle", actions_dict,
            SAMPLE_RATE)
    scores = evaluate_folder(data_root, str(results), 1, actions_dict, bg)
    assert set(scores) == {"acc", "edit", "f1@10", "f1@25", "f1@50"}
    assert all(0.0 <= v <= 100.0 for v in scores.values())
