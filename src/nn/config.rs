//! The shape of the U-Net, checked before anything is built, and its parameter count in closed
//! form (E22: "parameter count printed against the expected count").

use serde::{Deserialize, Serialize};

use crate::Result;

/// The most channels a level may have (a sanity bound that keeps the arithmetic exact).
pub const MAX_CHANNELS: usize = 1 << 16;
/// The most classes a class-conditional model may have.
pub const MAX_CLASSES: usize = 1 << 20;

/// The U-Net's hyper-parameters (Ho et al. 2020, Appendix B, scaled down for MNIST by default).
///
/// Level i works at `image_size / 2^i` pixels with `base_channels * channel_mults[i]` channels;
/// each level has `blocks_per_level` residual blocks on the way down and one more on the way up.
///
/// ```
/// let config = ddpm::nn::UNetConfig::default();
/// config.validate().unwrap();
/// assert_eq!(config.resolutions(), vec![28, 14, 7]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UNetConfig {
    /// Channels of the images (1 for MNIST, 3 for colour).
    pub in_channels: usize,
    /// Channels of the first level, "ch" in Ho et al.; also the width of the sinusoidal time
    /// embedding, whose MLP widens it to 4 ch. Even, at least 4.
    pub base_channels: usize,
    /// Channel multiplier of each level; one level per entry.
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level on the way down (the way up has one more).
    pub blocks_per_level: usize,
    /// Feature-map sizes (e.g. 7 for 7x7) at which attention follows each residual block; when the
    /// smallest level is listed, the middle block has attention too.
    pub attention_resolutions: Vec<usize>,
    /// Groups of every group norm; must divide every channel count.
    pub groups: usize,
    /// Attention heads; must divide the channels of every level with attention.
    pub heads: usize,
    /// Dropout in the residual blocks, in [0, 1) (Ho et al. used 0.1 on CIFAR-10).
    pub dropout: f64,
    /// Number of classes for a class-conditional model; None for an unconditional one.
    pub num_classes: Option<usize>,
    /// Height and width of the (square) images; divisible by 2^(levels - 1).
    pub image_size: usize,
    /// Condition the residual blocks through adaptive group norm (E23; Dhariwal and Nichol 2021)
    /// instead of adding the embedding (Ho et al.).
    #[serde(default)]
    pub adaptive_norm: bool,
}

impl Default for UNetConfig {
    /// A small MNIST U-Net: 28x28x1, channels 32, 64, 64 at 28, 14, 7 pixels, two blocks a level,
    /// attention at 7x7 and in the middle, about 1.6 M parameters (1 623 169).
    fn default() -> Self {
        Self {
            in_channels: 1,
            base_channels: 32,
            channel_mults: vec![1, 2, 2],
            blocks_per_level: 2,
            attention_resolutions: vec![7],
            groups: 8,
            heads: 4,
            dropout: 0.1,
            num_classes: None,
            image_size: 28,
            adaptive_norm: false,
        }
    }
}

impl UNetConfig {
    /// The U-Net `ddpm train --data mnist` trains by default, sized for a 2-core CPU: channels
    /// 16, 32, 64 at 28, 14, 7 pixels, one block a level, no dropout and no attention: 619 697
    /// parameters. Doubling the width at 7x7 (from 16, 32, 32) costs little time a step, while
    /// attention at 7x7 costs much more (the step times are in benches/NOTES.md). On a GPU, use
    /// [`UNetConfig::default`], which has attention.
    pub fn mnist_fast() -> Self {
        Self {
            base_channels: 16,
            channel_mults: vec![1, 2, 4],
            blocks_per_level: 1,
            attention_resolutions: vec![],
            dropout: 0.0,
            ..Self::default()
        }
    }

    /// The smallest useful U-Net, for tests and quick notebooks: grey `image_size` x `image_size`
    /// images, two levels of 8 and 16 channels, one block a level, no attention, no dropout.
    pub fn tiny(image_size: usize) -> Self {
        Self {
            in_channels: 1,
            base_channels: 8,
            channel_mults: vec![1, 2],
            blocks_per_level: 1,
            attention_resolutions: vec![],
            groups: 4,
            heads: 2,
            dropout: 0.0,
            num_classes: None,
            image_size,
            adaptive_norm: false,
        }
    }

    /// Number of levels (resolutions).
    pub fn levels(&self) -> usize {
        self.channel_mults.len()
    }

    /// Width of the time (and class) embedding: 4 base_channels (Ho et al. 2020).
    pub fn emb_dim(&self) -> usize {
        4 * self.base_channels
    }

    /// Channels of each level: `base_channels * channel_mults[i]`.
    pub fn level_channels(&self) -> Vec<usize> {
        self.channel_mults.iter().map(|m| self.base_channels * m).collect()
    }

    /// Feature-map size of each level: image_size / 2^i.
    pub fn resolutions(&self) -> Vec<usize> {
        (0..self.levels()).map(|i| self.image_size >> i).collect()
    }

    /// Whether level `level` has attention after its residual blocks.
    pub fn has_attention(&self, level: usize) -> bool {
        self.attention_resolutions.contains(&(self.image_size >> level))
    }

    /// Checks every field; the message says what was wrong and what is allowed.
    ///
    /// ```
    /// let bad = ddpm::nn::UNetConfig { base_channels: 12, ..Default::default() };
    /// let message = bad.validate().unwrap_err().to_string();
    /// assert!(message.contains("must be divisible by groups = 8, got 12"), "{message}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(invalid!("in_channels must be at least 1, got 0"));
        }
        if self.base_channels < 4 || !self.base_channels.is_multiple_of(2) {
            return Err(invalid!(
                "base_channels (also the width of the sinusoidal time embedding) must be even and at least 4, got {}",
                self.base_channels
            ));
        }
        if self.channel_mults.is_empty() {
            return Err(invalid!("channel_mults must have at least one level, got []"));
        }
        if let Some(i) = self.channel_mults.iter().position(|&m| m == 0) {
            return Err(invalid!("every channel mult must be at least 1, got channel_mults[{i}] = 0"));
        }
        if self.blocks_per_level == 0 {
            return Err(invalid!("blocks_per_level must be at least 1, got 0"));
        }
        if self.groups == 0 {
            return Err(invalid!("groups must be at least 1, got 0"));
        }
        if self.in_channels > MAX_CHANNELS {
            return Err(invalid!("in_channels must be at most {MAX_CHANNELS}, got {}", self.in_channels));
        }
        if let Some(n) = self.num_classes.filter(|&n| n > MAX_CLASSES) {
            return Err(invalid!("num_classes must be at most {MAX_CLASSES}, got {n}"));
        }
        if !self.base_channels.is_multiple_of(self.groups) {
            return Err(invalid!(
                "base_channels must be divisible by groups = {}, got {}",
                self.groups,
                self.base_channels
            ));
        }
        for (i, &m) in self.channel_mults.iter().enumerate() {
            // Every level's channels are then multiples of groups too.
            if self.base_channels.checked_mul(m).is_none_or(|c| c > MAX_CHANNELS) {
                return Err(invalid!(
                    "base_channels * mult must be at most {MAX_CHANNELS}, got base_channels {} * channel_mults[{i}] {m}",
                    self.base_channels
                ));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(invalid!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.num_classes == Some(0) {
            return Err(invalid!("num_classes must be at least 1, or None for an unconditional model, got Some(0)"));
        }
        let levels = self.levels();
        if levels > 16 {
            return Err(invalid!("channel_mults may have at most 16 levels, got {levels}"));
        }
        let factor = 1usize << (levels - 1);
        if self.image_size == 0 || !self.image_size.is_multiple_of(factor) {
            return Err(invalid!(
                "image_size must be a positive multiple of 2^(levels - 1) = {factor} (channel_mults has {levels} levels), got {}",
                self.image_size
            ));
        }
        let resolutions = self.resolutions();
        for &r in &self.attention_resolutions {
            if !resolutions.contains(&r) {
                return Err(invalid!(
                    "attention resolution {r} is not the size of any level; the levels are {resolutions:?}"
                ));
            }
        }
        if self.heads == 0 {
            return Err(invalid!("heads must be at least 1, got 0"));
        }
        for (level, c) in self.level_channels().into_iter().enumerate() {
            if self.has_attention(level) && c % self.heads != 0 {
                return Err(invalid!(
                    "channels at the {}x{} level with attention ({c}) must be divisible by heads = {}",
                    resolutions[level],
                    resolutions[level],
                    self.heads
                ));
            }
        }
        Ok(())
    }

    /// The number of trainable parameters, by arithmetic on the config alone (checked in the tests
    /// against the variables the network actually creates, E22). Validates the config first.
    pub fn expected_parameter_count(&self) -> Result<usize> {
        self.validate()?;
        let linear = |i: usize, o: usize| i * o + o;
        let conv = |i: usize, o: usize, k: usize| i * o * k * k + o;
        let norm = |c: usize| 2 * c;
        let emb = self.emb_dim();
        let resblock = |i: usize, o: usize| {
            let conditioning = if self.adaptive_norm { linear(emb, 2 * o) } else { linear(emb, o) };
            let skip = if i != o { conv(i, o, 1) } else { 0 };
            norm(i) + conv(i, o, 3) + conditioning + norm(o) + conv(o, o, 3) + skip
        };
        let attention = |c: usize| norm(c) + conv(c, 3 * c, 1) + conv(c, c, 1);

        let (base, levels, blocks) = (self.base_channels, self.levels(), self.blocks_per_level);
        let chans = self.level_channels();
        // Time MLP: sinusoid (base) -> 4 base -> 4 base; class table: num_classes + 1 rows.
        let mut total = linear(base, emb) + linear(emb, emb);
        total += self.num_classes.map_or(0, |n| (n + 1) * emb);
        total += conv(self.in_channels, base, 3);
        // Down path: the channels of every feature map kept for a skip connection.
        let mut skips = vec![base];
        let mut ch = base;
        for (level, &level_ch) in chans.iter().enumerate() {
            for _ in 0..blocks {
                total += resblock(ch, level_ch);
                ch = level_ch;
                if self.has_attention(level) {
                    total += attention(ch);
                }
                skips.push(ch);
            }
            if level + 1 < levels {
                total += conv(ch, ch, 3);
                skips.push(ch);
            }
        }
        // Middle: ResBlock, attention when the smallest level has it, ResBlock.
        total += 2 * resblock(ch, ch);
        if self.has_attention(levels - 1) {
            total += attention(ch);
        }
        // Up path: blocks + 1 per level, each taking one skip; up-sampling conv between levels.
        for level in (0..levels).rev() {
            for _ in 0..=blocks {
                let skip = skips.pop().unwrap_or(0);
                total += resblock(ch + skip, chans[level]);
                ch = chans[level];
                if self.has_attention(level) {
                    total += attention(ch);
                }
            }
            if level > 0 {
                total += conv(ch, ch, 3);
            }
        }
        // Output: GroupNorm, SiLU, 3x3 conv back to the image channels.
        total += norm(ch) + conv(ch, self.in_channels, 3);
        Ok(total)
    }
}
