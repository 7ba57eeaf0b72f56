//! Fuzz target: CalendarList::parse. The checks are in `permissions_fuzz::calendars`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::calendars(data));
