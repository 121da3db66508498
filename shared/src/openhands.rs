//! OpenHands V1 app-server client implementing [`crate::ports::Conversations`].
