"""Results as pictures: the evaluation report, run comparisons and the demo page (matplotlib, self-contained HTML)."""
