#!/usr/bin/env python3
"""The pyts baselines of `cgaf bench`, run in the same invocation as crypto-gaf's side.

Two subcommands, each printing one JSON line on stdout:

  pyts_baseline.py gasf --series FILE [--repeat 3] [--single 200]
      FILE: a JSON array of equal-length series. Times pyts's GramianAngularField (summation,
      image_size = the series length, sample_range (-1, 1)) on the whole batch (`batch_seconds`,
      best of --repeat, after one warm-up) and on one series (`single_seconds`, the mean of
      --single calls, best of --repeat).

  pyts_baseline.py calculate --input FILE [--reps 10]
      The image part of the original crypto-gaf's calculate cycle (Version D, `calculate/app.py`,
      described in the repository's reference): the five images of one product from the series it
      feeds pyts — the midpoint (GASF and GADF, grayscale), three order-book imbalance levels
      (GASF each, RGB), and the buy and sell triplets (GASF with sample_range (0, 1) each, RGB,
      buys with the channel permutation [1, 0, 2]) — each field mapped to pixels with
      `((v + 1) / 2 * 255).astype(uint8)`, saved by Pillow as PNG (its defaults) and base64
      encoded; the four fields computed in a ThreadPoolExecutor(max_workers=4) as Version D does.
      FILE: {"midpoint": [...], "orderbook": [[...] x 3], "buy": [[...] x 3], "sell": [[...] x 3]},
      newest sample first, as crypto-gaf's calculate feeds its transforms. Prints the median
      cycle time over --reps cycles (after one warm-up) and the five base64 PNGs of the last
      cycle, so the caller can check the pixels against its own.

Exit codes: 0 ok, 1 bad input file, 2 bad arguments, 3 pyts, numpy or Pillow not installed.
"""

import argparse
import base64
import io
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import numpy as np
    import pyts
    from PIL import Image
    from pyts.image import GramianAngularField
except ImportError as e:  # pragma: no cover - depends on the venv
    print(f"pyts_baseline.py: {e} (run bench/setup-pyts.sh)", file=sys.stderr)
    sys.exit(3)


def gaf(series, method, sample_range):
    """pyts GAF of each series (rows of `series`), image_size = the series length."""
    x = np.asarray(series, dtype=np.float64)
    g = GramianAngularField(image_size=x.shape[1], method=method, sample_range=sample_range)
    return g.fit_transform(x)


def to_pixels(field):
    """The original's mapping: truncation, not rounding."""
    return (((field + 1) / 2) * 255).astype(np.uint8)


def png_b64(pixels, mode):
    """Pillow's default PNG, base64 with padding, as `base64.b64encode(png).decode()`."""
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def rgb(series, sample_range, order):
    """Three series → one RGB image: GASF each, stacked, channels permuted by `order`."""
    fields = gaf(series, "summation", sample_range)
    stacked = np.stack([to_pixels(fields[k]) for k in order], axis=-1)
    return png_b64(stacked, "RGB")


def midpoint_images(midpoint):
    g = gaf([midpoint], "summation", (-1, 1))[0]
    d = gaf([midpoint], "difference", (-1, 1))[0]
    return png_b64(to_pixels(g), "L"), png_b64(to_pixels(d), "L")


def cycle(pool, data):
    mid = pool.submit(midpoint_images, data["midpoint"])
    book = pool.submit(rgb, data["orderbook"], (-1, 1), [0, 1, 2])
    buy = pool.submit(rgb, data["buy"], (0, 1), [1, 0, 2])
    sell = pool.submit(rgb, data["sell"], (0, 1), [0, 1, 2])
    gasf, gadf = mid.result()
    return {"midpoint_gasf": gasf, "midpoint_gadf": gadf, "orderbook": book.result(), "buy": buy.result(),
            "sell": sell.result()}


def cmd_calculate(args):
    try:
        with open(args.input) as f:
            data = json.load(f)
        n = len(data["midpoint"])
        for key in ("orderbook", "buy", "sell"):
            if len(data[key]) != 3 or any(len(s) != n for s in data[key]):
                raise ValueError(f"{key} must hold 3 series of {n} values")
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"pyts_baseline.py: bad input {args.input}: {e}", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = cycle(pool, data)  # warm-up (imports, numba caches)
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            images = cycle(pool, data)
            times.append(time.perf_counter() - t)
    print(json.dumps({"engine": "original calculate (Version D images)", "pyts": pyts.__version__,
                      "numpy": np.__version__, "samples": n, "reps": args.reps,
                      "seconds": statistics.median(times), "images": images}))
    return 0


def cmd_gasf(args):
    try:
        with open(args.series) as f:
            x = np.asarray(json.load(f), dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError("want a non-empty array of equal-length series")
    except (OSError, ValueError, TypeError) as e:
        print(f"pyts_baseline.py: bad input {args.series}: {e}", file=sys.stderr)
        return 1
    g = GramianAngularField(image_size=x.shape[1], method="summation", sample_range=(-1, 1))
    g.fit_transform(x)  # warm-up
    batch, single = [], []
    one = x[:1]
    for _ in range(args.repeat):
        t = time.perf_counter()
        g.fit_transform(x)
        batch.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(args.single):
            g.fit_transform(one)
        single.append((time.perf_counter() - t) / args.single)
    print(json.dumps({"engine": "pyts", "version": pyts.__version__, "numpy": np.__version__,
                      "series": int(x.shape[0]), "length": int(x.shape[1]),
                      "batch_seconds": min(batch), "single_seconds": min(single)}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calculate")
    c.add_argument("--input", required=True)
    c.add_argument("--reps", type=int, default=10)
    g = sub.add_parser("gasf")
    g.add_argument("--series", required=True)
    g.add_argument("--repeat", type=int, default=3)
    g.add_argument("--single", type=int, default=200)
    args = p.parse_args()
    if getattr(args, "reps", 1) < 1 or getattr(args, "repeat", 1) < 1 or getattr(args, "single", 1) < 1:
        p.error("--reps, --repeat and --single must be at least 1")
    return cmd_calculate(args) if args.cmd == "calculate" else cmd_gasf(args)


if __name__ == "__main__":
    sys.exit(main())
