//! Statistics for slice testing: one-sided Fisher exact and Yates chi-squared tests,
//! Benjamini-Hochberg adjustment, Wilson score intervals.
