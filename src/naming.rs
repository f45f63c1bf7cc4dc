//! Offline slice naming with class-based TF-IDF.
