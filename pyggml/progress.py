"""Progress bars: the one tqdm set-up every long-running step uses (conversion, quantization,
calibration, perplexity, tensor checks, model downloads).

Bars go to stderr, never to stdout, and show only where stderr is a terminal; `enabled=False`
(the commands' --no-progress) turns them off everywhere.
"""

from __future__ import annotations

import sys


def progress_bar(iterable=None, *, total=None, unit: str = "it", desc=None, enabled: bool = True,
                 leave: bool = False, **options):
    """A tqdm bar over `iterable` or up to `total`; use as a context manager or iterate it.
    options: further tqdm keywords (unit_scale, ...)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit=unit, desc=desc, disable=None if enabled else True, file=sys.stderr,
                dynamic_ncols=True, leave=leave, **options)
