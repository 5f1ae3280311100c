"""Analysis of finished runs: from ``scores.json`` / ``eval.csv`` files and compute profiles to the
paper-style tables and figures.

- ``runs``: find run folders, read final scores, build rliable's runs x games matrices
- ``hns``: human-normalised scores
- ``published``: the published reference data, and the Human-Optimal / Agent-Optimal split derived from it
- ``baselines``: the published methods at the level each has (runs, per-game means, claimed aggregates)
- ``aggregates``: mean, median, IQM, optimality gap (rliable, with bootstrap intervals), superhuman games,
  Har-HNS, probability of improvement, performance profiles
- ``curves``: learning curves
- ``compute``: the efficiency table (ratios to diamond, the papers' claims)
- ``tables`` / ``figures``: CSV, Markdown, LaTeX; PNG and PDF
- ``sections`` / ``report``: the parts of a report; ``jedi-bench aggregate`` and
  ``jedi-bench published-report``
"""
