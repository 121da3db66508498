//! In-memory adapters of every port, for unit tests.
