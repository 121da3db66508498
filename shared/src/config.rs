//! Typed configuration, loaded once and failing fast with the name of what is missing.
