//! The counters of a [`TrainState`] that, with AdamW's moments, continue a training exactly:
//! AdamW's update count and the position of the run's one generator. Shared by the diffusion
//! [`super::Trainer`] and the noisy classifier's training (`crate::guidance`).

use std::collections::BTreeMap;

use candle_core::Tensor;
use rand::SeedableRng as _;

use super::adamw::AdamW;
use crate::checkpoint::TrainState;
use crate::rng::Rng;
use crate::Result;

/// The counter of AdamW's update count.
const ADAM_UPDATES: &str = "adam_updates";
/// The counter of the generator's key (its 32-byte seed, as hex: a resumed run without a train
/// state re-seeds it, so it is not always the run's seed).
const RNG_KEY: &str = "rng_key";
/// The counter of the generator's position (in 32-bit words of its stream).
const RNG_WORD_POS: &str = "rng_word_pos";

/// AdamW's update count and the generator's key and position, as counters.
pub(crate) fn counters(optimizer: &AdamW, rng: &Rng) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ADAM_UPDATES.to_string(), optimizer.updates().to_string()),
        (RNG_KEY.to_string(), rng.get_seed().iter().map(|b| format!("{b:02x}")).collect()),
        (RNG_WORD_POS.to_string(), rng.get_word_pos().to_string()),
    ])
}

/// Puts `moments` (from [`AdamW::moments`]) and the update count of `state` back into
/// `optimizer`, and returns the generator where `state` left it. Every counter is checked
/// before anything changes: on an error `optimizer` is as it was.
pub(crate) fn restore(state: &TrainState, moments: &BTreeMap<String, Tensor>, optimizer: &mut AdamW) -> Result<Rng> {
    let (updates, word_pos) = (counter(state, ADAM_UPDATES)?, counter(state, RNG_WORD_POS)?);
    let Ok(updates) = usize::try_from(updates) else {
        return Err(invalid!("the train state's {ADAM_UPDATES} ({updates}) is too large"));
    };
    let key = state.counters.get(RNG_KEY).and_then(|hex| parse_key(hex));
    let Some(key) = key else { return Err(invalid!("the train state has no valid {RNG_KEY} (64 hex digits)")) };
    optimizer.restore(moments, updates)?;
    let mut rng = Rng::from_seed(key);
    rng.set_word_pos(word_pos);
    Ok(rng)
}

/// The counter `key` of `state` as a number; an error naming it if it is missing or not one.
pub(crate) fn counter(state: &TrainState, key: &str) -> Result<u128> {
    match state.counters.get(key).map(|v| v.parse::<u128>()) {
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(invalid!("the train state's {key} is {:?}, not a count", state.counters[key])),
        None => Err(invalid!("the train state has no {key}")),
    }
}

/// 32 bytes from 64 hex digits.
fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// The generator of a run of seed `seed` resumed at `step` without a train state: a fresh
/// stream for each (seed, step), so such a resume is still reproducible.
pub(crate) fn reseeded(seed: u64, step: usize) -> Rng {
    crate::rng::seeded(seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
