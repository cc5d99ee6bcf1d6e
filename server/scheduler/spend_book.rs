//! The spend book: the prices of the configured engines over the built-in
//! table, what a call costs, and the models already reported as having no
//! price. A job's own spend is `spend::JobSpend`; enforcing its cap reaches
//! across jobs, runs and calls (`budget`).

use std::collections::HashSet;

use super::outcome::error_outcome;
use crate::cost::{PriceBook, Pricing};
use crate::pb::v1::{ErrorKind, Outcome};

#[derive(Debug, Default)]
pub(super) struct SpendBook {
    /// Prices of configured engines over the built-in table.
    prices: PriceBook,
    /// Models already reported as having no price.
    unpriced_models: HashSet<String>,
}

impl SpendBook {
    /// Sets the price of every model of the engine `engine`.
    pub fn set_price(&mut self, engine: &str, pricing: Pricing) {
        self.prices.set(engine, pricing);
    }

    /// Cost of a call in US dollars; nothing on a `free` engine (echo);
    /// None: the model has no price.
    pub fn call_cost(
        &self,
        free: bool,
        engine: &str,
        model: &str,
        (prompt, completion): (u64, u64),
        batch_priced: bool,
    ) -> Option<f64> {
        if free {
            return Some(0.0);
        }
        self.prices
            .cost(engine, model, prompt, completion, batch_priced)
    }

    /// Says once per model that `model` has no price.
    pub fn report_unpriced(&mut self, engine: &str, model: &str) {
        if !self.unpriced_models.contains(model) {
            tracing::warn!(engine, model = %model,
                "model has no price: its calls are counted as unpriced, not in the cost \
                 (set [engines.NAME.pricing] in the config file)");
            self.unpriced_models.insert(model.to_string());
        }
    }
}

/// The outcome of an item stopped by its job's spend cap.
pub(super) fn budget_outcome(cost_usd: f64, max_cost_usd: Option<f64>) -> Outcome {
    let message = format!(
        "the job reached its spend cap (max_cost_usd {:.6}; spent {cost_usd:.6} USD): \
         this item's engine calls were not sent; run again with a higher max_cost_usd \
         to continue from the cache",
        max_cost_usd.unwrap_or(0.0)
    );
    error_outcome(ErrorKind::BudgetExceeded, "BudgetExceeded", message)
}
