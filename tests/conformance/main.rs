//! The conformance suite: one table of scenarios, run through every transport against the
//! local Cronofy (`permissions-fake`), so that the transports can never drift apart.
//!
//! Each transport is wrapped in a [`drivers::Driver`] that speaks one blocking vocabulary and
//! reports errors in one normalized shape; each scenario runs against every driver.

mod chaos;
mod drivers;
mod pacing;
mod scenarios;
mod secret_audit;
mod sessions;
mod soak;
mod traces;
