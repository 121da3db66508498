//! The three handlers, written once and generic over the ports: webhook intake, queue worker, callback + sweep.
