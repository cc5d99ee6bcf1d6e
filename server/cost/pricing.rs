//! Prices per million tokens, and the built-in table.

/// Price of a model in US dollars per million tokens, and the share taken
/// off at the batch price (OpenAI's Batch API: 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pricing {
    pub input_per_million: f64,
    pub output_per_million: f64,
    pub batch_discount: f64,
}

/// The Batch API's discount on every model of the built-in table.
pub const DEFAULT_BATCH_DISCOUNT: f64 = 0.5;

impl Pricing {
    pub const fn new(input_per_million: f64, output_per_million: f64, batch_discount: f64) -> Self {
        Pricing {
            input_per_million,
            output_per_million,
            batch_discount,
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

/// OpenAI's standard prices (US dollars per million input and output
/// tokens) for common models. A config's `[engines.NAME.pricing]` overrides
/// them; prices change, so check them against the provider's page.
const TABLE: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o4-mini", 1.10, 4.40),
    ("o3-mini", 1.10, 4.40),
    ("o3", 2.00, 8.00),
];

/// The built-in price of `model`: an exact name of the table, or one
/// followed by a dated snapshot suffix (`gpt-4o-mini-2024-07-18`).
pub fn builtin(model: &str) -> Option<Pricing> {
    TABLE.iter().find_map(|&(name, input, output)| {
        let rest = model.strip_prefix(name)?;
        let dated = rest
            .strip_prefix('-')
            .is_some_and(|date| date.starts_with(|c: char| c.is_ascii_digit()));
        (rest.is_empty() || dated).then_some(Pricing::new(input, output, DEFAULT_BATCH_DISCOUNT))
    })
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
    }

    #[test]
    fn the_batch_price_takes_the_discount_off() {
        let price = Pricing::new(2.0, 8.0, 0.5);
        let full = price.cost(1_000_000, 250_000, false);
        assert!((full - 4.0).abs() < 1e-12);
        assert!((price.cost(1_000_000, 250_000, true) - 2.0).abs() < 1e-12);
    }
}
