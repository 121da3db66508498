//! GitHub REST client implementing [`crate::ports::SourceClient`].
