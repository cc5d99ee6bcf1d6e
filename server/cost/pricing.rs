//! Prices per million tokens, output ceilings, and the built-in table.

/// Price of a model in US dollars per million tokens, the share taken
/// off at the batch price (OpenAI's Batch API: 0.5), and the most output
/// tokens one reply of the model may have (its output ceiling), which a
/// spend cap reserves for a call that sets no `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pricing {
    pub input_per_million: f64,
    pub output_per_million: f64,
    pub batch_discount: f64,
    /// None: not known (a capped job's calls must then set `max_tokens`).
    pub max_output_tokens: Option<u64>,
}

/// The Batch API's discount on every model of the built-in table.
pub const DEFAULT_BATCH_DISCOUNT: f64 = 0.5;

impl Pricing {
    pub const fn new(input_per_million: f64, output_per_million: f64, batch_discount: f64) -> Self {
        Pricing {
            input_per_million,
            output_per_million,
            batch_discount,
            max_output_tokens: None,
        }
    }

    /// The same price with the output ceiling `max_output_tokens`.
    pub const fn with_max_output_tokens(self, max_output_tokens: Option<u64>) -> Self {
        Pricing {
            max_output_tokens,
            ..self
        }
    }

    /// Cost of a call in US dollars.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64, batch_priced: bool) -> f64 {
        let full = (prompt_tokens as f64 * self.input_per_million
            + completion_tokens as f64 * self.output_per_million)
            / 1_000_000.0;
        if batch_priced {
            full * (1.0 - self.batch_discount)
        } else {
            full
        }
    }
}

/// OpenAI's and Anthropic's standard prices (US dollars per million input
/// and output tokens) and output ceilings (the most output tokens a reply
/// may have, reasoning tokens included) of common models. A config's
/// `[engines.NAME.pricing]` overrides them; prices change, so check them
/// against the provider's page. A name that another one starts with comes
/// after it (`claude-opus-4-1` before `claude-opus-4`).
const TABLE: &[(&str, f64, f64, u64)] = &[
    // OpenAI (platform.openai.com/docs/models; batch: half).
    ("gpt-4o-mini", 0.15, 0.60, 16_384),
    ("gpt-4o", 2.50, 10.00, 16_384),
    ("gpt-4.1-nano", 0.10, 0.40, 32_768),
    ("gpt-4.1-mini", 0.40, 1.60, 32_768),
    ("gpt-4.1", 2.00, 8.00, 32_768),
    ("gpt-3.5-turbo", 0.50, 1.50, 4_096),
    ("o4-mini", 1.10, 4.40, 100_000),
    ("o3-mini", 1.10, 4.40, 100_000),
    ("o3", 2.00, 8.00, 100_000),
    // Embeddings: input tokens only (no output).
    ("text-embedding-3-small", 0.02, 0.0, 0),
    ("text-embedding-3-large", 0.13, 0.0, 0),
    ("text-embedding-ada-002", 0.10, 0.0, 0),
    // Anthropic (docs.anthropic.com/en/docs/about-claude/pricing and
    // models/overview; batch: half).
    ("claude-opus-4-6", 5.00, 25.00, 128_000),
    ("claude-opus-4-5", 5.00, 25.00, 64_000),
    ("claude-opus-4-1", 15.00, 75.00, 32_000),
    ("claude-opus-4", 15.00, 75.00, 32_000),
    ("claude-sonnet-4-6", 3.00, 15.00, 64_000),
    ("claude-sonnet-4-5", 3.00, 15.00, 64_000),
    ("claude-sonnet-4", 3.00, 15.00, 64_000),
    // 64k; 128k only with a beta header the anthropic engine does not send.
    ("claude-3-7-sonnet", 3.00, 15.00, 64_000),
    ("claude-haiku-4-5", 1.00, 5.00, 64_000),
    ("claude-3-5-haiku", 0.80, 4.00, 8_192),
    ("claude-3-haiku", 0.25, 1.25, 4_096),
];

/// The built-in price of `model`: an exact name of the table, or one
/// followed by a dated snapshot suffix (`gpt-4o-mini-2024-07-18`,
/// `claude-sonnet-4-20250514`) or Anthropic's `-latest` alias.
pub fn builtin(model: &str) -> Option<Pricing> {
    TABLE.iter().find_map(|&(name, input, output, ceiling)| {
        let rest = model.strip_prefix(name)?;
        let dated = rest
            .strip_prefix('-')
            .is_some_and(|date| date.starts_with(|c: char| c.is_ascii_digit()));
        let dated = dated && !is_version_step(name, rest);
        (rest.is_empty() || dated || rest == "-latest").then_some(
            Pricing::new(input, output, DEFAULT_BATCH_DISCOUNT)
                .with_max_output_tokens(Some(ceiling)),
        )
    })
}

/// True when `rest` after a Claude name is a minor version, not a date
/// (`claude-opus-4` + `-7`: another model, whose price the table does not
/// know); dates have at least four digits.
fn is_version_step(name: &str, rest: &str) -> bool {
    let digits = rest[1..].chars().take_while(char::is_ascii_digit).count();
    name.starts_with("claude-") && digits < 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_and_dated_snapshots_are_priced() {
        let mini = builtin("gpt-4o-mini").expect("priced");
        assert_eq!(mini.input_per_million, 0.15);
        assert_eq!(builtin("gpt-4o-mini-2024-07-18"), Some(mini));
        // A longer name is another model, not a snapshot of a shorter one.
        assert_eq!(builtin("gpt-4o").expect("priced").input_per_million, 2.50);
        assert_eq!(builtin("gpt-4o-audio-preview"), None);
        assert_eq!(builtin("fake-model"), None);
        assert_eq!(mini.max_output_tokens, Some(16_384));
        assert_eq!(
            builtin("claude-3-5-haiku-latest").and_then(|p| p.max_output_tokens),
            Some(8_192)
        );
    }

    #[test]
    fn claude_models_are_priced_by_family_snapshot_and_alias() {
        let price =
            |model: &str| builtin(model).map(|p| (p.input_per_million, p.output_per_million));
        assert_eq!(price("claude-sonnet-4-20250514"), Some((3.0, 15.0)));
        assert_eq!(price("claude-sonnet-4-5"), Some((3.0, 15.0)));
        assert_eq!(price("claude-opus-4-1-20250805"), Some((15.0, 75.0)));
        assert_eq!(price("claude-opus-4-5-20251101"), Some((5.0, 25.0)));
        assert_eq!(price("claude-opus-4-20250514"), Some((15.0, 75.0)));
        assert_eq!(price("claude-haiku-4-5-20251001"), Some((1.0, 5.0)));
        assert_eq!(price("claude-3-5-haiku-20241022"), Some((0.8, 4.0)));
        assert_eq!(price("claude-3-5-haiku-latest"), Some((0.8, 4.0)));
        // A later minor version is another model, not a snapshot.
        assert_eq!(price("claude-opus-4-9"), None);
        assert_eq!(
            builtin("gpt-3.5-turbo-0125").map(|p| p.input_per_million),
            Some(0.5)
        );
    }

    #[test]
    fn the_batch_price_takes_the_discount_off() {
        let price = Pricing::new(2.0, 8.0, 0.5);
        let full = price.cost(1_000_000, 250_000, false);
        assert!((full - 4.0).abs() < 1e-12);
        assert!((price.cost(1_000_000, 250_000, true) - 2.0).abs() < 1e-12);
    }
}
