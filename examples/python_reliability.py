"""A reliability diagram of an sbn model, from Python (no notebook needed).

Fits a small Bayesian SBN on the embedded digits (three quarters of them), or loads a model file
written by `sbn fit` or by Python, predicts the held-out quarter with the Monte Carlo predictive,
and draws the reliability diagram (accuracy against confidence in 15 equal-width bins, the
library's binning, as `sbn calibrate`) before and after the post-hoc temperature stored in the
model (`posthoc=True`), and the model part of the uncertainty of right and wrong predictions.

    pip install ./python matplotlib
    python examples/python_reliability.py                      # fit, then plot
    python examples/python_reliability.py digits.sbn --out r.png

Without matplotlib the script prints the table and says so.
"""

import argparse

import numpy as np

import sbn

BINS = 15


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="a model file (default: fit one on the digits)")
    parser.add_argument("--out", default="reliability.png", help="the figure (PNG or SVG)")
    args = parser.parse_args()

    X, y = sbn.datasets.digits()
    test = np.arange(len(y)) % 4 == 0
    if args.model:
        clf = sbn.load(args.model)
    else:
        clf = sbn.fit(X[~test], y[~test], hidden=(128, 128), epochs=15, batch_size=64, logit_lr=0.1)

    mc = dict(weight_samples=16, noise_samples=8, seed=0)
    r = clf.predictive(X[test], **mc)
    column = {c: k for k, c in enumerate(clf.classes_.tolist())}
    labels = np.array([column[c] for c in y[test].tolist()])
    table = clf.reliability(X[test], y[test], bins=BINS, **mc)
    calibrated = clf.reliability(X[test], y[test], bins=BINS, posthoc=True, **mc) if clf.posthoc_ else None
    scores = clf.evaluate(X[test], y[test], **mc)

    print(f"{'bin':>11} {'count':>6} {'accuracy':>9} {'confidence':>11}")
    for b in np.flatnonzero(table.count):
        print(f"{table.lower[b]:5.3f}-{table.upper[b]:5.3f} {table.count[b]:6d} {table.accuracy[b]:9.3f} {table.confidence[b]:11.3f}")
    print(f"accuracy {scores['accuracy']:.4f}, NLL {scores['nll']:.4f}, ECE {table.ece:.4f}")
    if calibrated is not None:
        after = clf.evaluate(X[test], y[test], posthoc=True, **mc)
        how = clf.posthoc_["method"] + (f" T = {clf.posthoc_['temperature']:.3f}" if "temperature" in clf.posthoc_ else "")
        print(f"with the stored post-hoc calibration ({how}): NLL {after['nll']:.4f}, ECE {calibrated.ece:.4f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no figure drawn")
        return

    right = r.probabilities.argmax(axis=1) == labels
    fig, (left, middle) = plt.subplots(1, 2, figsize=(10, 4.5))
    centers = (table.lower + table.upper) / 2
    filled = table.count > 0
    left.bar(centers[filled], table.accuracy[filled], width=1 / BINS, edgecolor="black", label="accuracy")
    left.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    left.plot(centers[filled], table.confidence[filled], "o", color="tab:red", label="mean confidence in the bin")
    title = f"reliability, ECE {table.ece:.3f}"
    if calibrated is not None:
        after = calibrated.count > 0
        left.plot(calibrated.confidence[after], calibrated.accuracy[after], "s-", color="tab:green", label="after the stored post-hoc calibration")
        title += f" ({calibrated.ece:.3f} after)"
    left.set(xlabel="confidence (top-class probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    left.set_title(f"{title}, {BINS} bins")
    left.legend(loc="lower right")
    edges = np.linspace(0, max(r.model.max(), 1e-6), 30)
    middle.hist(r.model[right], bins=edges, alpha=0.6, label=f"right ({right.sum()})")
    middle.hist(r.model[~right], bins=edges, alpha=0.6, label=f"wrong ({(~right).sum()})")
    middle.set(xlabel="model part of the uncertainty (nats)", ylabel="examples", yscale="log")
    middle.set_title("model uncertainty, right against wrong")
    middle.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()
