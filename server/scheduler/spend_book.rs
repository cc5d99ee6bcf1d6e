//! The spend book: the prices of the configured engines over the built-in
//! table, what a call costs, the models already reported as having no
//! price, and the worst cases reserved for calls of capped jobs at their
//! engines. A job's own spend is `spend::JobSpend`; enforcing its cap
//! reaches across jobs, runs and calls (`budget`, `reserve`).

use std::collections::{BTreeSet, HashSet};

use rustc_hash::FxHashMap;

use super::outcome::error_outcome;
use super::spend::JobSpend;
use crate::cost::{PriceBook, Pricing};
use crate::pb::v1::{ErrorKind, Outcome};

#[derive(Debug, Default)]
pub(super) struct SpendBook {
    /// Prices of configured engines over the built-in table.
    prices: PriceBook,
    /// Models already reported as having no price.
    unpriced_models: HashSet<String>,
    /// Worst cases reserved for calls at engines, by server call id.
    reservations: FxHashMap<u64, Reservation>,
    /// Jobs that got a reservation back since the last turn: their calls
    /// waiting for room may fit now.
    refunded: BTreeSet<u64>,
}

/// The worst case reserved for one call sent for item `index` of job
/// `job_id`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reservation {
    pub job_id: u64,
    pub index: u64,
    pub usd: f64,
    /// The call's step in its item's forward().
    pub step: u32,
}

impl SpendBook {
    /// Sets the price of every model of the engine `engine`.
    pub fn set_price(&mut self, engine: &str, pricing: Pricing) {
        self.prices.set(engine, pricing);
    }

    /// The price of `model` on `engine`, if known.
    pub fn price(&self, engine: &str, model: &str) -> Option<Pricing> {
        self.prices.price(engine, model)
    }

    /// Notes the reservation of call `call_id`.
    pub fn reserve(&mut self, call_id: u64, reservation: Reservation) {
        self.reservations.insert(call_id, reservation);
    }

    /// Takes the reservation of call `call_id` (answered, failed, or sent
    /// back to its queue) and notes its job as refunded.
    pub fn take_reservation(&mut self, call_id: u64) -> Option<Reservation> {
        let reservation = self.reservations.remove(&call_id)?;
        self.refunded.insert(reservation.job_id);
        Some(reservation)
    }

    /// The jobs refunded since the last call.
    pub fn take_refunded(&mut self) -> BTreeSet<u64> {
        std::mem::take(&mut self.refunded)
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

/// The outcome of an item stopped by its job's spend cap: the cap, the
/// spend so far and the worst cases reserved for calls at engines.
pub(super) fn budget_outcome(spend: &JobSpend) -> Outcome {
    let refused = spend
        .refused_usd
        .map(|usd| format!("; the next call needs up to {usd:.6} USD"))
        .unwrap_or_default();
    let message = format!(
        "the job's spend cap would be passed (max_cost_usd {:.6}; spent {:.6} USD, {:.6} USD \
         reserved for calls at engines{refused}): this item's engine calls were not sent; \
         run again with a higher max_cost_usd to continue from the cache",
        spend.max_cost_usd.unwrap_or(0.0),
        spend.cost_usd,
        spend.reserved_usd,
    );
    error_outcome(ErrorKind::BudgetExceeded, "BudgetExceeded", message)
}
