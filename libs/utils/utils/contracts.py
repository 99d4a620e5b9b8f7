"""Contracts between services, checked at start-up.

One function per contract. Each raises :class:`~utils.errors.ConfigError`
naming the settings involved (keys of ``[tool.typeo.scripts.<service>]``),
their values and the rule, so a configuration that cannot work fails before
the first second instead of at the first write or in the cleaned data.

- :func:`check_output_rate`: the cleaner's ``sample_rate`` is the rate of
  the strain channels of its output frames
  (:data:`utils.channels.STRAIN_RATE`), which every reader expects.
- :func:`check_window_fits_scheme`: the second the cleaner keeps of each
  inference window (``inference_window_length`` W, ``prediction_edge_length``
  E: ``[W - 1 - E, W - E)`` s into the window) lies where the exporter's
  inference scheme (:class:`utils.inference.Scheme`) predicts every sample.
- :func:`check_window_fits_batch`: the pipeline sends every kernel of a
  window in one call (backend ``tensorrt``), so that call fits the batch
  the exporter serves (``inference_batch_size``, the plan's profile).
- :func:`check_output_band`: the band the monitor validates canaries on
  lies below the Nyquist frequency of the output frames' strain channels.
- :func:`witness_mismatch`: a network is fed the witnesses the cleaner
  sends (its ``witness_channels``, in order), so it must be trained on
  those (checked by the exporter for each run and served version).
- :func:`api_token`, :func:`check_api_token`: the exporter's API token
  (``DEEPCLEAN_API_TOKEN``), which the trainer and the monitor send as
  ``Authorization: Bearer <token>`` (:func:`bearer`).
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

from utils.channels import STRAIN_RATE
from utils.errors import ConfigError
from utils.inference import Scheme
from utils.inference import kernel_starts


def check_output_rate(sample_rate: int) -> None:
    """The cleaner resamples to the rate its output frames are written at.

    Raises:
        ConfigError: ``sample_rate`` is not :data:`STRAIN_RATE`.
    """
    if sample_rate != STRAIN_RATE:
        raise ConfigError(
            f"sample_rate={sample_rate!r}: must be {STRAIN_RATE} Hz, the "
            "rate of the strain channels of the output frames "
            "(utils.channels.STRAIN_RATE)"
        )


def check_window_fits_scheme(
    window_length: float, edge_length: float, sample_rate: int, scheme: Scheme
) -> None:
    """The kept second of each window is predicted completely.

    ``window`` scheme: one pass of the network; samples at the window's
    ends see its zero padding, so the kept second keeps away from both
    (E > 0 and W - 1 - E > 0). ``kernels`` scheme: samples before
    ``kernel_length`` or in the last ``aggregation_length`` of a window are
    incomplete (:mod:`utils.inference`), so W - 1 - E >= kernel_length and
    E >= aggregation_length.

    Args:
        window_length: the cleaner's ``inference_window_length`` W, s.
        edge_length: the cleaner's ``prediction_edge_length`` E, s.
        sample_rate: the cleaner's ``sample_rate``, Hz.
        scheme: the exporter's inference scheme.

    Raises:
        ConfigError: the rates differ or the kept second is not inside
            the complete part of the window.
    """
    if sample_rate != scheme.sample_rate:
        raise ConfigError(
            f"sample_rate={sample_rate!r} (cleaner) differs from the "
            f"exporter's sample_rate={scheme.sample_rate!r}: the network "
            "must see witnesses at the rate it was exported for"
        )
    first, last = window_length - 1 - edge_length, window_length - edge_length
    if scheme.name == "kernels":
        low = scheme.kernel_length
        high = window_length - scheme.aggregation_length
        ok = first >= low and last <= high
        rule = (
            "inference_window_length - 1 - prediction_edge_length >= "
            f"kernel_length={scheme.kernel_length!r} and "
            "prediction_edge_length >= "
            f"aggregation_length={scheme.aggregation_length!r}"
        )
    else:
        low, high = 0.0, window_length
        ok = first > low and last < high
        rule = "0 < prediction_edge_length < inference_window_length - 1"
    if not ok:
        raise ConfigError(
            f"inference_window_length={window_length!r} and "
            f"prediction_edge_length={edge_length!r} (cleaner) do not fit "
            f"the exporter's scheme={scheme.name!r}: the kept second, "
            f"{first:g} .. {last:g} s into each window, must lie within "
            f"{low:g} .. {high:g} s, where every sample is predicted "
            f"completely; need {rule}"
        )


def check_window_fits_batch(
    window_length: float,
    scheme: Scheme,
    fits: Callable[[int, int], bool],
    limits: str,
) -> None:
    """One window, sent as one call, fits what the server takes.

    Args:
        window_length: the cleaner's ``inference_window_length``, s.
        scheme: the exporter's inference scheme: ``kernels``, one item per
            kernel; ``window``, the window as one item.
        fits: whether ``(batch, item_size)`` is served.
        limits: the settings that bound it, for the message.

    Raises:
        ConfigError: it does not fit.
    """
    size = int(round(window_length * scheme.sample_rate))
    batch, item_size = 1, size
    if scheme.name == "kernels":
        batch = len(kernel_starts(size, scheme))
        item_size = scheme.kernel_size
    if not fits(batch, item_size):
        raise ConfigError(
            f"inference_window_length={window_length!r} (cleaner): one "
            f"window is one call of {batch} items of {item_size} samples, "
            f"beyond {limits}"
        )


def check_output_band(freq_low: float, freq_high: float) -> None:
    """The monitor's validation band lies in the output frames' strain.

    The monitor reads CANARY and RAW from the cleaner's output frames, at
    :data:`STRAIN_RATE`; a band at or above its Nyquist frequency holds no
    data to validate a canary on.

    Raises:
        ConfigError: not ``0 < freq_low < freq_high < STRAIN_RATE / 2``.
    """
    nyquist = STRAIN_RATE / 2
    if not 0 < freq_low < freq_high:
        raise ConfigError(
            f"freq_low={freq_low!r}: need 0 < freq_low < "
            f"freq_high={freq_high!r}"
        )
    if freq_high >= nyquist:
        raise ConfigError(
            f"freq_high={freq_high!r}: must be below {nyquist:g} Hz, the "
            "Nyquist frequency of the output frames' strain channels "
            "(utils.channels.STRAIN_RATE)"
        )


def witness_mismatch(
    trained: Sequence[str], sent: Sequence[str]
) -> str | None:
    """How a network trained on ``trained`` witnesses differs from what
    the cleaner sends, ``sent`` (its ``witness_channels``, in order): a
    phrase naming both lists; None when they agree or ``sent`` is empty
    (not known: the exporter found no cleaner settings)."""
    if not sent or list(trained) == list(sent):
        return None
    return (
        "takes its witnesses in another order or list than the cleaner "
        f"sends (its witness_channels): {list(trained)} vs {list(sent)}"
    )


API_TOKEN_VARIABLE = "DEEPCLEAN_API_TOKEN"
MIN_TOKEN_LENGTH = 8  # characters (run.sh makes one of 43)


def check_api_token(token: object) -> None:
    """``token`` can be the exporter's API token.

    Raises:
        ConfigError: it is not text of :data:`MIN_TOKEN_LENGTH` characters
            or more (its value is never shown).
    """
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        given = f"{len(token)}" if isinstance(token, str) else "not text"
        raise ConfigError(
            f"the exporter's API token ({API_TOKEN_VARIABLE}): at least "
            f"{MIN_TOKEN_LENGTH} characters, given {given}"
        )


def api_token(environ: Mapping[str, str] | None = None) -> str:
    """The exporter's API token, from :data:`API_TOKEN_VARIABLE`.

    Raises:
        ConfigError: unset or too short (:func:`check_api_token`).
    """
    environ = os.environ if environ is None else environ
    token = environ.get(API_TOKEN_VARIABLE, "")
    check_api_token(token)
    return token


def bearer(token: str) -> dict[str, str]:
    """The header that carries ``token`` to the exporter."""
    return {"Authorization": f"Bearer {token}"}
