//! Cost: prices per model and the cost of a call.
//!
//! A call's price comes from its engine's `[engines.NAME.pricing]` when the
//! config gives one, else from the built-in table of common OpenAI and Anthropic models
//! ([`pricing::builtin`]). A model in neither has no price: its calls are
//! counted as unpriced and cost nothing in the figures, which say so.
//!
//! A job with a spend cap reserves each call's worst case before it is sent
//! ([`worst_case`]): its prompt tokens, counted or bounded, plus its
//! `max_tokens` or the model's output ceiling.

pub(crate) mod pricing;
pub(crate) mod worst_case;

use std::collections::HashMap;

pub use pricing::Pricing;

/// Prices by engine name (configured) over the built-in table.
#[derive(Debug, Clone, Default)]
pub(crate) struct PriceBook {
    by_engine: HashMap<String, Pricing>,
}

impl PriceBook {
    /// Sets the price of every model of the engine `engine`.
    pub fn set(&mut self, engine: &str, pricing: Pricing) {
        self.by_engine.insert(engine.to_string(), pricing);
    }

    /// The price of `model` on `engine`, if known; a configured price
    /// without an output ceiling takes the built-in table's.
    pub fn price(&self, engine: &str, model: &str) -> Option<Pricing> {
        let builtin = pricing::builtin(model);
        match self.by_engine.get(engine) {
            Some(&configured) => Some(
                configured.with_max_output_tokens(
                    configured
                        .max_output_tokens
                        .or(builtin.and_then(|p| p.max_output_tokens)),
                ),
            ),
            None => builtin,
        }
    }

    /// Cost in US dollars of a call, or None when its model has no price.
    pub fn cost(
        &self,
        engine: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        batch_priced: bool,
    ) -> Option<f64> {
        self.price(engine, model)
            .map(|p| p.cost(prompt_tokens, completion_tokens, batch_priced))
    }
}

/// The `model` of a reply's metadata, if it names one.
pub(crate) fn reply_model(metadata_json: &str) -> Option<String> {
    if !metadata_json.contains("\"model\"") {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(metadata_json)
        .ok()?
        .get("model")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_prices_override_the_table_and_unknown_models_have_none() {
        let mut book = PriceBook::default();
        assert!(book.price("gpt", "gpt-4o-mini").is_some(), "built in");
        assert_eq!(book.price("gpt", "my-finetune"), None);
        book.set("gpt", Pricing::new(1.0, 2.0, 0.5));
        assert_eq!(
            book.cost("gpt", "my-finetune", 1_000_000, 500_000, false),
            Some(2.0)
        );
        assert_eq!(
            book.cost("gpt", "my-finetune", 1_000_000, 500_000, true),
            Some(1.0)
        );
        assert_eq!(book.cost("other", "my-finetune", 10, 10, false), None);
    }

    #[test]
    fn the_model_is_read_from_reply_metadata() {
        assert_eq!(
            reply_model(r#"{"model": "gpt-4o", "usage": {}}"#).as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(reply_model(r#"{"usage": {}}"#), None);
        assert_eq!(reply_model(""), None);
    }
}
