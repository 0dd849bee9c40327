#!/usr/bin/env python3
"""The vectorbt baseline of `cgaf bench --only sweep`: an SMA-cross parameter sweep.

Reads a CSV of bars (header `time_ms,open,high,low,close,volume`), runs every (fast, slow) pair
of the grid with fast < slow through vectorbt (numba engine) with crypto-gaf's fill rule, and
prints one JSON line. The rule, per pair: flat until the slow SMA exists, then fully long while
the fast SMA is above the slow SMA, fully short while below, the previous side when equal; a
market order only when the side changes, placed at the bar's close and filled at the next bar's
open for the target fraction of the equity valued at that open; fee in basis points of the
filled notional.

In vectorbt terms: `vbt.MA.run` for every window once, the side per pair from the two MAs
(numpy), and `Portfolio.from_signals(entries=the side turned long, short_entries=turned short,
both shifted one bar, price=open, size=inf, upon_opposite_entry="reverse")`: all the equity at
the open goes long or short, a reversal closes and reopens in one fill, as in crypto-gaf.
(`from_orders` with `size_type="targetpercent"` gives the same fills and is ~30 % slower here.)

Timing: numba compiles on first use, so the whole pipeline first runs once on a few bars
(`jit_seconds`); `seconds` is the second, timed run over all bars and pairs: the MAs, the sides,
the simulation, each pair's trade count and final value (`cpu_seconds`: the CPU time of that
run). Parsing the CSV is timed apart (`load_seconds`). Columns are simulated in chunks of `--columns` pairs to bound memory.

Exit codes: 3 = vectorbt not installed, 2 = bad arguments, 1 = bad input file.
"""

import argparse
import json
import sys
import time


def parse_list(text):
    """`5,10,15` or `5..50/5` (start..end/step, inclusive) as a list of ints."""
    text = text.strip()
    if ".." in text:
        span, _, step = text.partition("/")
        lo, _, hi = span.partition("..")
        lo, hi, step = int(lo), int(hi), int(step or 1)
        if step < 1 or hi < lo:
            raise ValueError(f"bad range {text!r}")
        return list(range(lo, hi + 1, step))
    return [int(v) for v in text.split(",") if v.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", required=True, help="CSV: time_ms,open,high,low,close,volume")
    ap.add_argument("--fast", default="5..50/5", help="fast windows: a list 5,10 or a range 5..50/5")
    ap.add_argument("--slow", default="20..200/20", help="slow windows: a list or a range 20..200/20")
    ap.add_argument("--cash", type=float, default=10000.0)
    ap.add_argument("--fee-bps", type=float, default=0.0)
    ap.add_argument("--columns", type=int, default=15, help="pairs simulated per vectorbt call")
    args = ap.parse_args()
    try:
        fast, slow = parse_list(args.fast), parse_list(args.slow)
    except ValueError as e:
        print(f"vectorbt_sweep: {e}", file=sys.stderr)
        return 2
    pairs = [(f, s) for f in fast for s in slow if 1 <= f < s]
    if not pairs or args.columns < 1 or args.cash <= 0 or args.fee_bps < 0:
        print("vectorbt_sweep: no pair with 1 <= fast < slow, or bad --columns/--cash/--fee-bps", file=sys.stderr)
        return 2
    try:
        import numpy as np
        import pandas as pd
        import numba
        import vectorbt as vbt
    except ImportError as e:
        print(f"vectorbt_sweep: {e} (run bench/setup-vectorbt.sh)", file=sys.stderr)
        return 3

    t = time.perf_counter()
    try:
        df = pd.read_csv(args.bars, dtype={"time_ms": "int64"}, engine="c")
        open_ = df["open"].to_numpy(dtype=np.float64)
        close = df["close"].to_numpy(dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same failure
        print(f"vectorbt_sweep: reading {args.bars}: {e}", file=sys.stderr)
        return 1
    load_seconds = time.perf_counter() - t
    if len(close) < 2:
        print("vectorbt_sweep: fewer than 2 bars", file=sys.stderr)
        return 1

    def sweep(open_, close, pairs):
        """Every pair's (trades, orders, final value)."""
        windows = sorted({w for p in pairs for w in p})
        col = {w: i for i, w in enumerate(windows)}
        # One MA per distinct window (vectorbt's rolling mean, numba).
        ma = vbt.MA.run(close, window=windows, short_name="ma").ma.to_numpy()
        out = []
        for lo in range(0, len(pairs), args.columns):
            chunk = pairs[lo : lo + args.columns]
            fm = ma[:, [col[f] for f, _ in chunk]]
            sm = ma[:, [col[s] for _, s in chunk]]
            side = np.sign(fm - sm)
            # Equal SMAs keep the previous side; flat until the slow SMA exists.
            side[side == 0.0] = np.nan
            side[np.isnan(sm)] = 0.0
            side = pd.DataFrame(side).ffill().to_numpy()
            prev = np.vstack([np.zeros((1, side.shape[1])), side[:-1]])
            # The side changed at this close: a market order, filled at the next bar's open.
            long_at = np.zeros(side.shape, dtype=bool)
            short_at = np.zeros(side.shape, dtype=bool)
            long_at[1:] = (side[:-1] == 1.0) & (prev[:-1] != 1.0)
            short_at[1:] = (side[:-1] == -1.0) & (prev[:-1] != -1.0)
            pf = vbt.Portfolio.from_signals(
                close=close[:, None],
                entries=long_at,
                short_entries=short_at,
                upon_opposite_entry="reverse",
                size=np.inf,
                price=open_[:, None],
                fees=args.fee_bps / 1e4,
                init_cash=args.cash,
                freq="1min",
                engine="numba",
            )
            trades = np.atleast_1d(np.asarray(pf.trades.count()))
            orders = np.atleast_1d(np.asarray(pf.orders.count()))
            final = np.atleast_1d(np.asarray(pf.final_value()))
            for i, (f, s) in enumerate(chunk):
                out.append(
                    {"fast": f, "slow": s, "trades": int(trades[i]), "orders": int(orders[i]), "final_value": float(final[i])}
                )
        return out

    # Warm-up: numba compiles every function the pipeline uses on first call.
    warm_n = min(len(close), 2000)
    t = time.perf_counter()
    sweep(open_[:warm_n], close[:warm_n], pairs[: min(2, len(pairs))])
    jit_seconds = time.perf_counter() - t

    t, cpu = time.perf_counter(), time.process_time()
    runs = sweep(open_, close, pairs)
    seconds = time.perf_counter() - t
    cpu_seconds = time.process_time() - cpu
    n = len(close)
    print(
        json.dumps(
            {
                "engine": "vectorbt",
                "version": vbt.__version__,
                "numba": numba.__version__,
                "numpy": np.__version__,
                "bars": n,
                "pairs": len(pairs),
                "columns": args.columns,
                "seconds": seconds,
                "bar_runs_per_second": n * len(pairs) / seconds,
                "cpu_seconds": cpu_seconds,
                "jit_seconds": jit_seconds,
                "load_seconds": load_seconds,
                "cash": args.cash,
                "fee_bps": args.fee_bps,
                "runs": runs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
