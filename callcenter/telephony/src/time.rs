//! The one clock every telephony core runs on: milliseconds since an origin the adapter picks.
//!
//! SIP transactions, the user agent, a call's media leg and the IVR take a [`Time`] with every
//! event and return deadlines in it; none of them reads a clock. The ACD (`acd::Ms`) counts the
//! same milliseconds, so the switch hands it `now.ms()`.

/// Milliseconds on the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// `ms` milliseconds later.
    pub fn after(self, ms: u64) -> Time {
        Time(self.0 + ms)
    }

    /// The milliseconds themselves, as the ACD counts them.
    pub fn ms(self) -> u64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
