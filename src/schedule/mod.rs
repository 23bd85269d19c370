//! Beta schedules and the tables derived from them, in f64 (Ho et al. 2020, Sec. 2 and 4; notes 000, 003).
//!
//! [`BetaSchedule`] says how beta_t grows with t (linear, cosine, quadratic, sigmoid, custom);
//! [`NoiseSchedule`] holds every table derived from it. Every table is indexed by the paper's
//! step `t` in 1..=T; index 0 holds the conventions at t = 0 (beta_0 = 0, alpha_0 =
//! alpha_bar_0 = 1), so `alpha_bar(t - 1)` is always defined.

mod beta;
mod noise;

pub use beta::{linspace, BetaSchedule, ScheduleKind, MAX_STEPS};
pub use noise::{NoiseSchedule, EXTRA_COLUMNS, TABLE_COLUMNS};
