"""Tiny reconstruction runs shared by the engine tests (imported by them; not a test module)."""

from __future__ import annotations

import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose

from monai_chpnet.data.synthetic import ellipse_phantom
from monai_chpnet.keys import ReconKeys
from monai_chpnet.losses import DistillationLoss, DynamicKDWeight, EdgeCorrectedKnowledge, HeterogeneousFeatureLoss
from monai_chpnet.networks.student import student_from_preset
from monai_chpnet.networks.teacher import teacher_from_preset
from monai_chpnet.transforms import ALL_SCALED_KEYS, NormalizeInstanced, RandSimulateAcquisitiond, ZeroFilledChannelsd

SIZE = 32


def recon_transform(seed: int = 0) -> Compose:
    t = Compose(
        [
            RandSimulateAcquisitiond(
                ReconKeys.TARGET, mask_type="random", accelerations=(4,), center_fractions=(0.08,)
            ),
            NormalizeInstanced(ALL_SCALED_KEYS, mode="scale"),
            ZeroFilledChannelsd(output_keys="image"),
        ]
    )
    t.set_random_state(seed)
    return t


def loader(n: int = 8, batch_size: int = 4, seed: int = 0, shuffle: bool = False) -> DataLoader:
    vol = ellipse_phantom(n, (SIZE, SIZE))
    items = [{ReconKeys.TARGET: torch.as_tensor(vol[i : i + 1]), "fname": f"vol{i % 2}"} for i in range(n)]
    return DataLoader(Dataset(items, recon_transform(seed)), batch_size=batch_size, shuffle=shuffle, num_workers=0)


def unlabelled_loader(n: int = 4, batch_size: int = 2, seed: int = 7, sampler=None) -> DataLoader:
    """Phantoms whose truth is deleted after the acquisition is simulated: inputs without a reference."""
    from monai_chpnet.data.selection import drop_reference

    vol = ellipse_phantom(n + 2, (SIZE, SIZE))[2:, ::-1].transpose(0, 2, 1).copy()  # other slices, flipped
    items = [{ReconKeys.TARGET: torch.as_tensor(vol[i : i + 1]), "fname": f"u{i}"} for i in range(n)]
    dataset = Dataset(items, drop_reference(recon_transform(seed)))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler, num_workers=0)


def networks(seed: int = 0):
    torch.manual_seed(seed)
    return teacher_from_preset("tiny", in_channels=2), student_from_preset("tiny", in_channels=2)


def distillation_loss(
    student, teacher, edge_correction: bool = True, feature_kd: bool = True, **kwargs
) -> DistillationLoss:
    s_info, t_info = student.feature_info(), teacher.feature_info()
    pairs = [(list(s_info)[-1], list(t_info)[-1])]
    return DistillationLoss(
        knowledge=EdgeCorrectedKnowledge() if edge_correction else None,
        feature=HeterogeneousFeatureLoss(s_info, t_info, pairs) if feature_kd else None,
        **kwargs,
    )


def build(kd: str = "dynamic", max_epochs: int = 1, seed: int = 0, **kwargs):
    from monai_chpnet.engines import DistillationTrainer

    teacher, student = networks(seed)
    loss = distillation_loss(
        student,
        teacher,
        kwargs.pop("edge_correction", True),
        kwargs.pop("feature_kd", True),
        **kwargs.pop("loss_kwargs", {}),
    )
    opt = torch.optim.Adam(list(student.parameters()) + list(loss.parameters()), lr=kwargs.pop("lr", 3e-3))
    topt = torch.optim.Adam(teacher.parameters(), lr=1e-3) if kd == "dynamic" else None
    trainer = DistillationTrainer(
        device="cpu",
        max_epochs=max_epochs,
        train_data_loader=kwargs.pop("train_data_loader", None) or loader(seed=seed),
        network=student,
        optimizer=opt,
        loss_function=loss,
        teacher=teacher if kd != "none" else None,
        teacher_optimizer=topt,
        kd=kd,
        alpha=kwargs.pop("alpha", None) or DynamicKDWeight(0.5),
        **kwargs,
    )
    return trainer, student, teacher, loss, opt, topt
