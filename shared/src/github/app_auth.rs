//! GitHub App authentication: RS256 app JWT → installation token, cached until shortly before expiry.
