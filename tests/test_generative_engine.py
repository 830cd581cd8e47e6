"""The generative training engine, used as a new model would use it: a tiny denoising autoencoder of
real paintings (16 px crops), with dropout, noise from the global RNGs and a scheduled learning rate."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from artlens.errors import ArtlensError
from artlens.train.generative import GenerativeTask, GenerativeTrainer, SampleGrids, resume_state


class Denoiser(GenerativeTask):
    """Learns to take noise off 16 px crops of real paintings: the smallest model that uses every RNG."""

    loss_names = ("loss",)

    def __init__(self, images: torch.Tensor, seed: int = 0) -> None:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.2), nn.Conv2d(8, 3, 3, padding=1))
        self.images = images
        self.gen = torch.Generator().manual_seed(seed)  # the data sampler: its state is checkpointed
        self.models = {"net": net}
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        self.optimizers = {"loss": opt}
        self.schedulers = {"lr": torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)}

    def next_batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.images), (4,), generator=self.gen)
        top, left = (int(v) for v in torch.randint(8, (2,), generator=self.gen))
        return self.images[idx, :, top:top + 16, left:left + 16]

    def training_step(self, batch, nets):
        flip = random.random() < 0.5  # python's RNG
        scale = float(np.random.uniform(0.05, 0.2))  # numpy's
        clean = batch.flip(-1) if flip else batch
        noisy = clean + scale * torch.randn_like(clean)  # torch's (and dropout uses it too)
        return {"loss": (nets["net"](noisy) - clean).pow(2).mean()}

    def sample(self, nets):
        clean = self.images[:2, :, :16, :16]
        noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
        return torch.cat([clean, noisy, nets["net"](noisy).clamp(0, 1)]), 2

    def state_dict(self):
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state):
        self.gen.set_state(state["gen"])


@pytest.fixture(scope="module")
def paintings(artdata) -> torch.Tensor:
    from torchvision.transforms.functional import to_tensor

    files = sorted((artdata / "wikiart11" / "Ukiyo_e").glob("*.jpg"))[:6]
    return torch.stack([to_tensor(Image.open(p).convert("RGB").resize((24, 24))) for p in files])


def run(paintings, out, *, steps=8, resume=False, ema_decay=0.9, callbacks=()):
    random.seed(0)
    np.random.seed(0)
    task = Denoiser(paintings)
    trainer = GenerativeTrainer(task, out=out, steps=steps, checkpoint_every=2, ema_decay=ema_decay,
                                callbacks=[*callbacks, SampleGrids(4)])
    return trainer.fit(resume_state(out, resume=resume, steps=steps)), task


def test_a_killed_run_resumes_bit_for_bit(paintings, tmp_path):
    """Killed after step 5 (last checkpoint: step 4), resumed: the same raw and EMA weights, bit for bit,
    and ``log.csv`` holds every step once."""
    straight, straight_task = run(paintings, tmp_path / "straight")

    def kill(_trainer, step, _losses):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(paintings, tmp_path / "killed", callbacks=[kill])
    steps = [r.split(",")[0] for r in (tmp_path / "killed" / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4", "5"]
    resumed, resumed_task = run(paintings, tmp_path / "killed", resume=True)
    for a, b in ((straight_task.models["net"], resumed_task.models["net"]), (straight.models["net"], resumed.models["net"])):
        for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), k
    log = (tmp_path / "killed" / "log.csv").read_text()
    assert log == (tmp_path / "straight" / "log.csv").read_text()
    assert log.splitlines()[0] == "step,loss,lr" and [r.split(",")[0] for r in log.splitlines()[1:]] == \
        [str(i) for i in range(1, 9)]
    assert resumed.losses == straight.losses and resumed.step == 8


def test_ema_weights_differ_from_the_raw_ones_and_are_what_the_run_returns(paintings, tmp_path):
    result, task = run(paintings, tmp_path / "run", steps=4)
    raw, averaged = task.models["net"], result.models["net"]
    assert averaged is not raw
    assert not torch.equal(raw[0].weight, averaged[0].weight)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    torch.testing.assert_close(saved["ema"]["net"]["module.0.weight"], averaged[0].weight, rtol=0, atol=0)
    without, task = run(paintings, tmp_path / "plain", steps=4, ema_decay=0.0)
    assert without.models["net"] is task.models["net"]


def test_sample_grids_are_written_every_n_steps_and_at_the_end(paintings, tmp_path):
    run(paintings, tmp_path / "run", steps=6)
    grids = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert grids == ["step000004.png", "step000006.png"]
    with Image.open(tmp_path / "run" / "samples" / "step000006.png") as grid:
        assert grid.size == (2 + 2 * 18, 2 + 3 * 18)  # 2 columns x 3 rows of 16 px tiles, 2 px padding


def test_resume_refusals_are_one_line(paintings, tmp_path):
    run(paintings, tmp_path / "run", steps=4)
    with pytest.raises(ArtlensError, match="checkpoint.pt exists: pass --resume"):
        resume_state(tmp_path / "run", resume=False, steps=4)
    with pytest.raises(ArtlensError, match="already at step 4, beyond --steps 2; pass --steps 4 or more"):
        resume_state(tmp_path / "run", resume=True, steps=2)
    with pytest.raises(ArtlensError, match="no checkpoint to resume from"):
        resume_state(tmp_path / "missing", resume=True, steps=2)
    with pytest.raises(ArtlensError, match="was trained with --ema-decay 0.9, not 0.0; resume it with the same --ema-decay"):
        run(paintings, tmp_path / "run", steps=6, resume=True, ema_decay=0.0)


def test_a_diverging_step_is_one_line(paintings, tmp_path):
    class Diverging(Denoiser):
        def training_step(self, batch, nets):
            return {"loss": super().training_step(batch, nets)["loss"] * float("inf")}

    with pytest.raises(ArtlensError, match="training diverged at step 1 .loss not finite.: lower --lr"):
        GenerativeTrainer(Diverging(paintings), out=tmp_path / "run", steps=2).fit()


def test_the_ema_warms_up_so_a_short_run_is_not_its_first_weights():
    from artlens.train.loop import new_ema

    net = nn.Linear(4, 2)
    ema = new_ema(net, 0.999)
    ema.update_parameters(net)  # the first update copies the weights
    start = ema.module.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    for _ in range(20):
        ema.update_parameters(net)
    moved = float((ema.module.weight.detach() - start).mean())
    # a plain decay of 0.999 would have moved 2 % of the way in 20 updates; the warmed-up decay
    # ((1 + n) / (10 + n) until it reaches 0.999) follows the weights a short run actually learnt
    assert 0.9 < moved <= 1.0 + 1e-6, moved
