"""Labels on the image's own detector grid: pixel-exact after resampling, crops, flips, rotations."""

from __future__ import annotations

import abtem
import numpy as np
import pytest
import torch
from ase.build import mx2
from hrtem_core.errors import ImageError
from hrtem_sim.labels import augment, pad_points, render_columns, render_mask, render_mask_near
from hrtem_sim.optics import detector_grid, resample
from scipy import ndimage

MO, S2, S1 = 1, 2, 3


@pytest.fixture(scope="module")
def mos2() -> dict:
    """A 3 x 2 orthogonal MoS2 cell with one S vacancy at 80 kV: exit wave and labelled columns."""
    atoms = abtem.orthogonalize_cell(mx2("MoS2", vacuum=2)) * (3, 2, 1)
    del atoms[[i for i, a in enumerate(atoms) if a.symbol == "S"][3]]
    potential = abtem.Potential(atoms, sampling=0.05, slice_thickness=1)
    waves = abtem.PlaneWave(energy=80e3).multislice(potential).compute(progress_bar=False)
    sliced = potential.get_transformed_atoms()
    xy = np.round(sliced.positions[:, :2], 3)
    columns, members = np.unique(xy, axis=0, return_inverse=True)
    classes = []
    for k in range(len(columns)):
        symbols = [sliced[i].symbol for i in np.flatnonzero(members.ravel() == k)]
        classes.append(MO if "Mo" in symbols else S2 if len(symbols) == 2 else S1)
    return {
        "wave": torch.from_numpy(waves.array)[None],
        "sampling": torch.tensor([waves.sampling], dtype=torch.float64),
        "columns": columns,
        "classes": np.array(classes),
    }


def label_to_peak_distances(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each label disc inside the image: distance [px] to the nearest local maximum of the
    image, and the disc's class."""
    maxima = (ndimage.maximum_filter(image, size=7) == image) & (image > 0.3 * image.max())
    peaks = np.argwhere(maxima)
    components, count = ndimage.label(label > 0)
    distances, classes = [], []
    for k in range(1, count + 1):
        pixels = np.argwhere(components == k)
        if pixels.min() == 0 or (pixels.max(axis=0) == np.array(label.shape) - 1).any():
            continue  # cut by the edge: its centroid is not the column's
        distances.append(np.linalg.norm(peaks - pixels.mean(axis=0), axis=1).min())
        classes.append(int(label[tuple(pixels[0])]))
    return np.array(distances), np.array(classes)


def test_columns_sit_on_their_labels_after_crops_and_flips(mos2: dict) -> None:
    """|psi - <psi>| (largest on every column) goes through the image's resampling (coarser
    detector, random sub-pixel origin, a field larger than one period) and the shared augmentation;
    every column's maximum stays within 1 px of its label disc, whatever the crop/flip/rotation."""
    psi = mos2["wave"]
    field = (psi - psi.mean()).abs()[:, None].float()
    points, classes, valid = pad_points([mos2["columns"]], [mos2["classes"]])
    generator = torch.Generator().manual_seed(3)
    checked = 0
    for _ in range(4):
        origin = torch.rand(1, 2, generator=generator)
        grid = detector_grid(
            tuple(psi.shape[-2:]), mos2["sampling"], torch.tensor([0.1]), (128, 128), origin
        )
        image = resample(field, grid)
        label = render_columns(points, classes, valid, grid, spot=0.4)
        assert set(np.unique(label.numpy())) == {0, MO, S2, S1}
        image, label = augment(image, label, generator, crop=(96, 96))
        distances, kinds = label_to_peak_distances(image[0, 0].numpy(), label[0].numpy())
        assert len(distances) >= 10
        assert distances.max() <= 1.0, distances
        assert MO in kinds and S2 in kinds
        checked += len(distances)
    assert checked >= 60


def test_a_different_transform_misses_the_columns(mos2: dict) -> None:
    """Negative control: the same check fails when image and label are augmented differently."""
    psi = mos2["wave"]
    field = (psi - psi.mean()).abs()[:, None].float()
    points, classes, valid = pad_points([mos2["columns"]], [mos2["classes"]])
    grid = detector_grid(tuple(psi.shape[-2:]), mos2["sampling"], torch.tensor([0.1]), (128, 128),
                         torch.tensor([[0.3, 0.6]]))  # fmt: skip
    image, label = resample(field, grid), render_columns(points, classes, valid, grid)
    image, _ = augment(image, label, torch.Generator().manual_seed(1), crop=(96, 96))
    _, label = augment(image, label[:, :96, :96], torch.Generator().manual_seed(2), crop=(96, 96))
    distances, _ = label_to_peak_distances(image[0, 0].numpy(), label[0].numpy())
    assert distances.max() > 1.0


def grid_for(period: float, shape: tuple[int, int], origin: tuple[float, float] = (0.0, 0.0)):
    sampling = torch.tensor([[period / 100, period / 100]], dtype=torch.float64)
    fraction = torch.tensor([origin], dtype=torch.float64) / period
    return detector_grid((100, 100), sampling, torch.tensor([period / 50]), shape, fraction)


def test_discs_wrap_periodically_at_the_edges() -> None:
    """A column at x = 0.05 Å in a 10 Å cell shows on both edges of a one-period field."""
    grid = grid_for(10.0, (50, 50))  # 0.2 Å/px, exactly one period
    points, classes, valid = pad_points([np.array([[0.05, 5.0]])], [np.array([2])])
    label = render_columns(points, classes, valid, grid, spot=0.4)[0]
    assert label[0, 25] == 2 and label[49, 25] == 2 and label[1, 25] == 2
    assert label[3, 25] == 0 and label[47, 25] == 0
    # A field of 1.5 periods shows the column twice, 50 px apart.
    label = render_columns(points, classes, valid, grid_for(10.0, (75, 50)), spot=0.4)[0]
    assert label[50, 25] == 2 and label[0, 25] == 2


def test_gaussians_peak_at_the_column() -> None:
    grid = grid_for(10.0, (50, 50))
    points, classes, valid = pad_points([np.array([[4.0, 6.0], [1.0, 1.0]])])
    heat = render_columns(points, classes, valid, grid, spot=0.4, kind="gaussian")[0]
    assert heat.dtype == torch.float32
    assert float(heat[20, 30]) == pytest.approx(1.0)
    assert float(heat[22, 30]) == pytest.approx(np.exp(-(0.4**2) / (2 * 0.4**2)), rel=1e-5)
    assert float(heat[30, 30]) == 0.0


def test_padding_ragged_point_lists() -> None:
    points, classes, valid = pad_points(
        [np.zeros((3, 2)), np.ones((1, 2))], [np.array([1, 2, 3]), np.array([2])]
    )
    assert points.shape == (2, 3, 2) and classes.tolist() == [[1, 2, 3], [2, 0, 0]]
    assert valid.tolist() == [[True, True, True], [True, False, False]]


def test_particle_mask_is_a_union_of_discs_with_holes_closed() -> None:
    """A ring of atoms (hole radius 1.1 Å after 0.5 Å discs) stays open with a small closing
    and is filled with a closing wider than the hole."""
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    ring = np.stack([5 + 1.6 * np.cos(angles), 5 + 1.6 * np.sin(angles)], axis=1)
    points, classes, valid = pad_points([ring])
    grid = grid_for(10.0, (50, 50))
    discs = render_columns(points, classes, valid, grid, spot=0.5)[0]
    open_ring = render_mask(points, valid, grid, radius=0.5, close=0.6)[0]
    filled = render_mask(points, valid, grid, radius=0.5, close=1.4)[0]
    assert open_ring[25, 25] == 0 and filled[25, 25] == 1
    assert filled.dtype == torch.int64
    assert bool((filled >= open_ring).all())
    assert int(((discs > 0) & (open_ring == 0)).sum()) <= 4  # nearest-pixel placement only
    assert filled[5, 5] == 0  # far from the particle


@pytest.mark.parametrize(
    ("shape", "origin"),
    [((140, 120), (0.0, 0.0)), ((90, 75), (3.7, 11.2)), ((300, 260), (0.0, 0.0))],
)  # a frame within one period, one offset from it, one of more than a period
def test_a_mask_rendered_near_its_points_is_the_whole_frame_mask(shape, origin) -> None:
    """Particles inside, across the periodic seam and cut by the frame's edge: the boxed render
    gives the frame render's mask pixel for pixel."""
    rng = np.random.default_rng(4)
    grid = grid_for(25.0, shape, origin)  # 0.25 Å/px, a period of 100 px
    for centre in ([12.0, 9.0], [24.5, 0.4], [1.0, 13.0], [20.0, 26.0]):
        cluster = np.array(centre) + rng.normal(0.0, 1.2, (30, 2))
        points, _, valid = pad_points([cluster])
        whole = render_mask(points, valid, grid)[0]
        near = render_mask_near(cluster, grid)
        assert whole.sum() > 0 and torch.equal(near, whole), centre
    assert render_mask_near(np.zeros((0, 2)), grid).sum() == 0


def test_augment_applies_one_transform_to_image_and_label() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4 * 20 * 16).reshape(4, 20, 16)
    images = torch.stack([labels, -labels], dim=1).float()
    out_images, out_labels = augment(images, labels, generator, crop=(12, 10))
    assert out_images.shape == (4, 2, 12, 10) and out_labels.shape == (4, 12, 10)
    torch.testing.assert_close(out_images[:, 0], out_labels.float())
    torch.testing.assert_close(out_images[:, 1], -out_labels.float())
    square_images, square_labels = augment(images, labels, generator, crop=(12, 12))
    torch.testing.assert_close(square_images[:, 0], square_labels.float())
    # The step along the output's axis 0 shows the transform: +-16 (flips), +-1 (90° turns).
    many = augment(images.repeat(8, 1, 1, 1), labels.repeat(8, 1, 1), generator, crop=(12, 12))[1]
    steps = {int(step) for step in many[:, 1, 0] - many[:, 0, 0]}
    assert steps == {16, -16, 1, -1}
    with pytest.raises(ImageError, match="does not fit"):
        augment(images, labels, generator, crop=(30, 10))
    with pytest.raises(ImageError, match="do not match"):
        augment(images, labels[:, :10], generator)
