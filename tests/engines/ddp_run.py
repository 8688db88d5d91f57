"""Worker for test_distributed: a 2-rank gloo DistillationTrainer run; each rank saves a digest of its weights."""

import hashlib
import os
import sys

import torch.distributed as dist
from monai.data import DataLoader
from torch.utils.data import DistributedSampler

sys.path.insert(0, os.path.dirname(__file__))
from engine_fixtures import build, loader, unlabelled_loader  # noqa: E402


def main(out_dir: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    base = loader(n=8)
    sampler = DistributedSampler(base.dataset, shuffle=True, seed=0)
    dl = DataLoader(base.dataset, batch_size=2, sampler=sampler)
    # inputs without a reference too, split between the ranks like the labelled data
    u_base = unlabelled_loader(n=4)
    u_dl = unlabelled_loader(n=4, batch_size=1, sampler=DistributedSampler(u_base.dataset, shuffle=True, seed=1))
    trainer, student, teacher, loss, *_ = build(
        "dynamic", max_epochs=2, seed=0, train_data_loader=dl, distributed=True, unlabelled_data_loader=u_dl
    )
    trainer.run()
    digest = hashlib.sha256()
    for module in (student, teacher, loss):
        for v in module.state_dict().values():
            digest.update(v.detach().cpu().numpy().tobytes())
    with open(os.path.join(out_dir, f"rank{rank}.txt"), "w") as f:
        f.write(f"{digest.hexdigest()} {trainer.state.iteration}")
    # projectors built but their term switched off (beta = 0): DDP must not wait for their gradients
    trainer, *_ = build(
        "dynamic", max_epochs=2, seed=0, train_data_loader=dl, distributed=True, loss_kwargs={"beta": 0.0}
    )
    trainer.run()
    with open(os.path.join(out_dir, f"rank{rank}_beta0.txt"), "w") as f:
        f.write(str(trainer.state.iteration))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
