#!/usr/bin/python3
"""Makes level_two.json: the level-two parity fixture of fnprobe's
prompt-level inference (server/analysis/level_two.h).

Run with Debian 12's python3-numpy, python3-scipy (1.10) and
python3-statsmodels (0.13):  /usr/bin/python3 make_fixture.py > level_two.json

Data: 3 runs of 9 prompts (3 task, 6 baseline, as a baseline/task/baseline
run of 3 prompts per block), 12 units with run offsets, a task effect on
some units, unequal variances on others, and one unit with a large mean
(precision). References, per unit:
  run_ols  statsmodels OLS of y ~ C(run) + task: the task coefficient, its
           standard error squared, t, p and df_resid;
  welch    scipy.stats.ttest_ind(equal_var=False) for t and p; the
           difference of means; statsmodels' ttest_ind(usevar='unequal')
           for the Welch-Satterthwaite df.
"""
import json

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.weightstats import ttest_ind

rng = np.random.default_rng(20261205)
runs, per_run, task_per_run, units = 3, 9, 3, 12
run = np.repeat(np.arange(runs), per_run)
task = np.zeros(runs * per_run, dtype=int)
for r in range(runs):
    # baseline, task, baseline blocks
    task[r * per_run + 3:r * per_run + 6] = 1
y = rng.normal(size=(runs * per_run, units))
y += rng.normal(scale=0.5, size=runs)[run][:, None]  # run offsets
effect = np.zeros(units)
effect[:4] = [2.0, -1.5, 0.8, 0.3]
y += task[:, None] * effect[None, :]
y[task == 1, 5] *= 3.0  # unequal variances
y[:, 6] += 1000.0       # a large mean

x = np.column_stack([task, (run == 1).astype(float), (run == 2).astype(float),
                     np.ones_like(task, dtype=float)])
ols = {"effect": [], "variance": [], "t": [], "p": [], "dof": None}
welch = {"effect": [], "variance": [], "t": [], "p": [], "df": []}
for u in range(units):
    fit = sm.OLS(y[:, u], x).fit()
    ols["effect"].append(fit.params[0])
    ols["variance"].append(fit.bse[0] ** 2)
    ols["t"].append(fit.tvalues[0])
    ols["p"].append(fit.pvalues[0])
    ols["dof"] = fit.df_resid
    a, b = y[task == 1, u], y[task == 0, u]
    res = stats.ttest_ind(a, b, equal_var=False)
    welch["effect"].append(a.mean() - b.mean())
    welch["variance"].append(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    welch["t"].append(res.statistic)
    welch["p"].append(res.pvalue)
    welch["df"].append(ttest_ind(a, b, usevar="unequal")[2])

print(json.dumps({
    "values": y.tolist(), "task": task.tolist(), "run": run.tolist(),
    "run_ols": ols, "welch": welch}, indent=1))
