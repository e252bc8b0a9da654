"""The inverse FFT of image formation is right at every size on several threads."""

import pytest
import torch
from hrtem_sim.optics.fft import ifft2


@pytest.mark.parametrize("size", [96, 2048])
def test_a_round_trip_gives_the_wave_back(size: int) -> None:
    """2048^2 on two threads is where torch 2.13's own ``ifft2`` divides twice."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        wave = torch.randn(size, size, dtype=torch.complex64)
        torch.testing.assert_close(ifft2(torch.fft.fft2(wave)), wave, atol=1e-5, rtol=1e-5)
    finally:
        torch.set_num_threads(threads)
