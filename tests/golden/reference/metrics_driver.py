# Generates tests/golden/reference/metrics.json from the reference script given as argument (see
# tests/golden/README.md): runs it with its printout silenced, then prints its own functions'
# results on vectors A, B and C at full precision.
import contextlib, io, json, math, sys
path = sys.argv[1]
ns = {"__name__": "metrics_example"}
with contextlib.redirect_stdout(io.StringIO()):
    exec(compile(open(path).read(), path, "exec"), ns)

def guard(f):
    try:
        v = f()
    except (ZeroDivisionError, OverflowError):
        return None
    return v if math.isfinite(v) else None

def metrics(r, ann, rf=0.0):
    mdd = ns["max_dd"](r)
    cagr = guard(lambda: ns["cagr"](r, ann))
    return {
        "total_return": ns["total"](r),
        "cagr": cagr,
        "sharpe": guard(lambda: ns["sharpe"](r, rf, ann)),
        "sortino": guard(lambda: ns["sortino"](r, rf, ann)),
        "max_drawdown": mdd,
        "calmar": None if cagr is None or not mdd < 0 else cagr / abs(mdd),
        "volatility": guard(lambda: ns["std"](r, 1) * math.sqrt(ann)),
        "downside_deviation": guard(lambda: ns["downside_dev"](r, rf) * math.sqrt(ann)),
    }

vectors = {
    "A": [0.01, -0.02, 0.015, -0.005, 0.025],
    "B": [-0.01, 0.02, -0.015, 0.005, -0.02],
}
prices = [100.0, 110.0, 99.0, 103.95, 114.345]
vectors["C"] = [prices[i] / prices[i - 1] - 1 for i in range(1, len(prices))]
out = {"returns": vectors, "metrics": {}}
for name, r in vectors.items():
    out["metrics"][name] = {str(ann): metrics(r, ann) for ann in (1, 252, 365, 8760, 525600)}
rf_daily = (1 + 0.05) ** (1 / 252) - 1
out["rf"] = {"rf_per_period": rf_daily, "metrics": metrics(vectors["A"], 252, rf_daily)}
print(json.dumps(out))
