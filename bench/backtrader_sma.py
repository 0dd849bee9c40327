#!/usr/bin/env python3
"""Backtrader baseline for `cgaf bench`: an SMA-crossover backtest over a CSV of bars.

Reads bars from a CSV, runs a Backtrader SMA-crossover strategy over them and prints ONE JSON
line to stdout. Two feeds (``--feed``):

- ``array`` (default): header ``time_ms,open,high,low,close,volume`` (``time_ms`` is the bar's
  close time in milliseconds since the Unix epoch, one row per bar, ascending), parsed by this
  script into arrays before ``cerebro.run()`` and fed bar by bar (the in-process bench).
- ``generic``: header ``datetime,open,high,low,close,volume`` with ``datetime`` written
  ``YYYY-MM-DD HH:MM:SS`` (UTC, the bar's open), read by Backtrader's own
  ``bt.feeds.GenericCSVData`` inside ``cerebro.run()`` (its preload): the run-path bench, on the
  same file crypto-gaf imports.

``--fills FILE`` also writes every executed order as CSV (``bar,time_ms,price,size,commission``:
the 0-based index of the bar it filled on, that bar's datetime as Backtrader stamps it in ms
since the epoch, the fill price, the signed size, the commission). The JSON line::

    {"engine": "backtrader", "version": "1.9.78.123", "bars": 1000000,
     "seconds": 41.2, "bars_per_second": 24270.0, "load_seconds": 1.9,
     "preload_seconds": 12.3, "trades": 33012, "final_value": 10123.45,
     "fast": 10, "slow": 30, "cash": 10000.0, "fee_bps": 0.0, "slippage_bps": 0.0,
     "feed": "array", "fills": 33012, "end_to_end_seconds": 43.1}

``seconds`` is the wall time of ``cerebro.run()`` only (that includes Backtrader's own
preload of the feed into its line buffers, reported again on its own as ``preload_seconds``;
with ``--feed generic`` the preload is where the CSV is parsed); ``load_seconds`` is what comes
before that (``array``: reading and parsing the CSV; ``generic``: counting its rows and building
the feed); ``end_to_end_seconds`` is both. ``trades`` counts trades opened
(closed ones plus the one still open at the end). Errors go to stderr with a non-zero exit.

Strategy (the semantics of crypto-gaf's ``sma-cross`` plugin and trade engine, as closely as
Backtrader allows): fast and slow simple moving averages of the close. Flat until the slow SMA
exists; from then on target +1 (long 100 % of the portfolio value) while fast > slow, -1
(short 100 %) while fast < slow, and the previous side while equal. An order is placed in
``next()`` only when the side changes, as a market order filled at the NEXT bar's open
(Backtrader's default: no cheat-on-close, no cheat-on-open). Commission: ``--fee-bps`` / 1e4
of the filled notional. Slippage: ``--slippage-bps`` / 1e4 of the open, above it for buys and
below for sells (``set_slippage_perc`` with ``slip_open`` and ``slip_out``, so the price is never
clipped to the bar's high or low: crypto-gaf's rule).

Backtrader specifics:
- The broker is given a perpetual-contract style commission scheme (not stock-like, a
  negligible fixed margin, profit and loss marked to cash every bar, percentage commission).
  With Backtrader's stock-like default, a 100 % long sized at the decision bar's close is
  refused ("Margin") whenever the next open is above that close or a fee is due, because the
  broker never lets cash go below 0; crypto-gaf's engine lets cash dip below 0 by the fee.
  The portfolio value (cash + position marked at the close) is the same as stock-like.
- ``order_target_percent`` only works with stock-like schemes, so the equivalent is done by
  hand: size = side * value / close - position, with fractional sizes (Backtrader's stock-like
  ``getsize`` would round them down to whole units).
- The size is computed at the decision bar's close (Backtrader cannot size at the fill);
  crypto-gaf sizes at the fill's open. They are equal when each bar opens at the previous
  close, as in a gapless random walk.

Run ``bench/setup-backtrader.sh`` first: it makes a virtualenv with backtrader and prints the
path of its python, which is the interpreter to run this script with.
"""

import argparse
import array
import json
import math
import sys
import time

HEADER = ["time_ms", "open", "high", "low", "close", "volume"]
GENERIC_HEADER = ["datetime", "open", "high", "low", "close", "volume"]
GENERIC_DTFORMAT = "%Y-%m-%d %H:%M:%S"
# Backtrader stores datetimes as days since 0001-01-01 (datetime.toordinal()), plus the
# fraction of the day; 1970-01-01 is ordinal 719163.
EPOCH_ORDINAL = 719163.0
MS_PER_DAY = 86_400_000.0


def fail(msg, code=1):
    print(f"backtrader_sma: error: {msg}", file=sys.stderr)
    sys.exit(code)


try:
    import backtrader as bt
except ImportError:
    print(
        "backtrader_sma: error: the Python package 'backtrader' is not installed for "
        f"{sys.executable}.\nRun bench/setup-backtrader.sh and use the python path it prints, e.g.\n"
        '  PY="$(bench/setup-backtrader.sh | tail -n 1)" && "$PY" bench/backtrader_sma.py --bars bars.csv',
        file=sys.stderr,
    )
    sys.exit(3)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Backtrader SMA-crossover baseline for `cgaf bench`.")
    p.add_argument("--bars", required=True, help="CSV of bars (header: see --feed)")
    p.add_argument(
        "--feed",
        choices=["array", "generic"],
        default="array",
        help="array: header time_ms,open,high,low,close,volume parsed by this script (default); "
        "generic: header datetime,open,high,low,close,volume (YYYY-MM-DD HH:MM:SS, bar open, UTC) "
        "read by bt.feeds.GenericCSVData",
    )
    p.add_argument("--fills", help="also write every executed order to this CSV (bar,time_ms,price,size,commission)")
    p.add_argument("--fast", type=int, default=10, help="fast SMA window in bars (default 10)")
    p.add_argument("--slow", type=int, default=30, help="slow SMA window in bars (default 30)")
    p.add_argument("--cash", type=float, default=10000.0, help="starting cash (default 10000)")
    p.add_argument("--fee-bps", type=float, default=0.0, help="commission in basis points of notional (default 0)")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage in basis points of the open (default 0)")
    a = p.parse_args(argv)
    if a.fast < 1 or a.slow < 1 or a.fast >= a.slow:
        p.error(f"need 1 <= --fast < --slow (got fast {a.fast}, slow {a.slow})")
    if not (math.isfinite(a.cash) and a.cash > 0):
        p.error(f"--cash must be a positive number (got {a.cash})")
    if not (math.isfinite(a.fee_bps) and 0 <= a.fee_bps <= 1000):
        p.error(f"--fee-bps must be in [0, 1000] (got {a.fee_bps})")
    if not (math.isfinite(a.slippage_bps) and 0 <= a.slippage_bps <= 1000):
        p.error(f"--slippage-bps must be in [0, 1000] (got {a.slippage_bps})")
    return a


def load_bars(path):
    """Parses the CSV into arrays of doubles: (datetime as Backtrader day numbers, o, h, l, c, v)."""
    dt, o, h, l, c, v = (array.array("d") for _ in range(6))
    try:
        f = open(path, "r", encoding="utf-8", newline="")
    except OSError as e:
        fail(f"cannot open {path}: {e.strerror}")
    with f:
        header = [x.strip() for x in f.readline().strip().split(",")]
        if header != HEADER:
            fail(f"{path}: header must be {','.join(HEADER)} (got {','.join(header) or 'nothing'})")
        prev_ms = -math.inf
        for lineno, line in enumerate(f, start=2):
            if not line.strip():
                continue
            try:
                t, bo, bh, bl, bc, bv = line.split(",")
                ms = float(t)
                row = (float(bo), float(bh), float(bl), float(bc), float(bv))
            except ValueError:
                fail(f"{path}:{lineno}: expected 6 numbers, got {line.strip()!r}")
            if not math.isfinite(row[3]):
                fail(f"{path}:{lineno}: close is not a finite number")
            if not ms > prev_ms:
                fail(f"{path}:{lineno}: time_ms {t.strip()} is not after the previous bar's")
            prev_ms = ms
            dt.append(EPOCH_ORDINAL + ms / MS_PER_DAY)
            o.append(row[0])
            h.append(row[1])
            l.append(row[2])
            c.append(row[3])
            v.append(row[4])
    if not dt:
        fail(f"{path}: no bars")
    return dt, o, h, l, c, v


def generic_feed(path):
    """Checks the header of a ``--feed generic`` file and counts its rows; returns Backtrader's
    ``GenericCSVData`` over it (which parses the file itself, in ``cerebro.run()``) and the count."""
    try:
        f = open(path, "r", encoding="utf-8", newline="")
    except OSError as e:
        fail(f"cannot open {path}: {e.strerror}")
    with f:
        header = [x.strip() for x in f.readline().strip().split(",")]
        if header != GENERIC_HEADER:
            fail(f"{path}: header must be {','.join(GENERIC_HEADER)} (got {','.join(header) or 'nothing'})")
        n = sum(1 for line in f if line.strip())
    if n == 0:
        fail(f"{path}: no bars")
    data = bt.feeds.GenericCSVData(
        dataname=path,
        headers=True,
        dtformat=GENERIC_DTFORMAT,
        datetime=0,
        time=-1,
        open=1,
        high=2,
        low=3,
        close=4,
        volume=5,
        openinterest=-1,
        timeframe=bt.TimeFrame.Minutes,
        compression=1,
    )
    return data, n


def epoch_ms(num):
    """A Backtrader datetime number as ms since the Unix epoch."""
    return round((num - EPOCH_ORDINAL) * MS_PER_DAY)


class ArrayFeed(bt.feed.DataBase):
    """A feed over already parsed arrays: Backtrader's per-bar `_load` path, minus CSV parsing."""

    params = (("arrays", None),)

    def start(self):
        super().start()
        self._i = 0
        self._n = len(self.p.arrays[0])

    def _load(self):
        i = self._i
        if i >= self._n:
            return False
        dt, o, h, l, c, v = self.p.arrays
        ln = self.lines
        ln.datetime[0] = dt[i]
        ln.open[0] = o[i]
        ln.high[0] = h[i]
        ln.low[0] = l[i]
        ln.close[0] = c[i]
        ln.volume[0] = v[i]
        ln.openinterest[0] = 0.0
        self._i = i + 1
        return True


class PerpComm(bt.CommInfoBase):
    """Perpetual-contract style: P&L marked to cash each bar, negligible margin, % commission."""

    params = (
        ("stocklike", False),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
        ("margin", 1e-9),
        ("mult", 1.0),
    )


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 30))

    def __init__(self):
        self.fast_sma = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.fast)
        self.slow_sma = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.slow)
        self.side = 0
        self.trades_opened = 0
        self.orders_refused = 0
        # (bar index, bar datetime in ms, price, signed size, commission) of every executed order.
        self.fills = []

    # prenext() (before the slow SMA exists) does nothing: flat.

    def next(self):
        f = self.fast_sma[0]
        s = self.slow_sma[0]
        side = 1 if f > s else (-1 if f < s else self.side)
        if side != self.side:
            self.side = side
            # order_target_percent(target=side), with fractional sizes (see module doc).
            price = self.data.close[0]
            target = side * self.broker.getvalue() / price
            delta = target - self.position.size
            if delta > 0:
                self.buy(size=delta)
            elif delta < 0:
                self.sell(size=-delta)

    def notify_order(self, order):
        if order.status in (order.Margin, order.Rejected, order.Canceled):
            self.orders_refused += 1
        elif order.status == order.Completed:
            ex = order.executed
            self.fills.append((len(self.data) - 1, epoch_ms(ex.dt), ex.price, ex.size, ex.comm))

    def notify_trade(self, trade):
        if trade.justopened:
            self.trades_opened += 1


def main(argv):
    a = parse_args(argv)

    t0 = time.perf_counter()
    if a.feed == "generic":
        data, n = generic_feed(a.bars)
    else:
        arrays = load_bars(a.bars)
        n = len(arrays[0])
        data = ArrayFeed(arrays=arrays, timeframe=bt.TimeFrame.Minutes, compression=1)
    # Backtrader's vectorised (runonce) SMA fails on fewer bars than its window; such a run never
    # trades, so it goes through the bar-by-bar mode instead.
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=n >= a.slow)
    cerebro.adddata(data)
    cerebro.addstrategy(SmaCross, fast=a.fast, slow=a.slow)
    cerebro.broker.setcash(a.cash)
    cerebro.broker.addcommissioninfo(PerpComm(commission=a.fee_bps / 1e4))
    if a.slippage_bps > 0:
        cerebro.broker.set_slippage_perc(
            a.slippage_bps / 1e4, slip_open=True, slip_limit=True, slip_match=True, slip_out=True
        )
    load_seconds = time.perf_counter() - t0

    # Time Backtrader's own preload of the feed (it happens inside cerebro.run()).
    preload_seconds = [0.0]
    inner_preload = data.preload

    def timed_preload():
        p0 = time.perf_counter()
        inner_preload()
        preload_seconds[0] += time.perf_counter() - p0

    data.preload = timed_preload

    t1 = time.perf_counter()
    strategies = cerebro.run()
    seconds = time.perf_counter() - t1

    strat = strategies[0]
    if len(data) != n:
        fail(f"{a.bars}: Backtrader read {len(data)} bars, the file has {n} rows")
    if a.fills:
        try:
            with open(a.fills, "w", encoding="utf-8") as out:
                out.write("bar,time_ms,price,size,commission\n")
                for bar, ms, price, size, comm in strat.fills:
                    out.write(f"{bar},{ms},{price!r},{size!r},{comm!r}\n")
        except OSError as e:
            fail(f"cannot write {a.fills}: {e.strerror}")
    if strat.orders_refused:
        print(f"backtrader_sma: warning: {strat.orders_refused} orders refused by the broker", file=sys.stderr)
    out = {
        "engine": "backtrader",
        "version": bt.__version__,
        "bars": n,
        "seconds": round(seconds, 6),
        "bars_per_second": round(n / seconds, 1) if seconds > 0 else None,
        "load_seconds": round(load_seconds, 6),
        "preload_seconds": round(preload_seconds[0], 6),
        "trades": strat.trades_opened,
        "final_value": cerebro.broker.getvalue(),
        "fast": a.fast,
        "slow": a.slow,
        "cash": a.cash,
        "fee_bps": a.fee_bps,
        "slippage_bps": a.slippage_bps,
        "feed": a.feed,
        "fills": len(strat.fills),
        "end_to_end_seconds": round(load_seconds + seconds, 6),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
