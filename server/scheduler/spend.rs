//! Spend: what a job's engine calls cost, what the cache and coalescing
//! saved it, each item's usage, and the job's spend cap with the worst
//! cases reserved for its calls at engines.

use std::collections::{BTreeMap, HashMap};

use crate::pb::v1::{StepRoutes, Usage};

/// One job's spend.
#[derive(Debug, Default)]
pub(super) struct JobSpend {
    /// The cap (`JobSpec.max_cost_usd`); None: no cap.
    pub max_cost_usd: Option<f64>,
    /// Cost of the requests sent for the job (priced calls).
    pub cost_usd: f64,
    /// Requests sent whose model has no price.
    pub unpriced_calls: u64,
    /// Calls answered without a request, with what they would have cost.
    pub saved: Usage,
    /// Items failed with BudgetExceeded.
    pub budget_exceeded_items: u64,
    /// Set once the cap is reached, or a call's worst case can no longer
    /// fit under it: no call of the job is sent any more.
    pub exceeded: bool,
    /// Worst cases reserved for the job's calls sent and not yet answered
    /// (capped jobs only).
    pub reserved_usd: f64,
    /// Calls with a reservation.
    reservations: u64,
    /// The worst case of the call that could not fit under the cap, which
    /// stopped the job.
    pub refused_usd: Option<f64>,
    /// Usage of items with calls answered, by index, until their result goes.
    items: HashMap<u64, Usage>,
    /// Requests sent, by step of forward() and the way they went.
    steps: BTreeMap<u32, StepRoutes>,
    /// Of `cost_usd`, requests billed twice (a hedged batch's late copies).
    pub billed_twice_usd: f64,
}

/// Whether a call's worst case fits under its job's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    /// It fits under cap - spent - reserved: the call may be sent.
    Now,
    /// It fits only once calls in flight give back their reservation.
    Later,
    /// It does not fit even then (spend only grows).
    Never,
}

/// What a call answered without a request would have spent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Saving {
    CacheHit,
    Coalesced,
}

impl JobSpend {
    pub fn new(max_cost_usd: Option<f64>) -> Self {
        JobSpend {
            max_cost_usd,
            ..Default::default()
        }
    }

    /// A request sent for item `index` was answered; `cost` None: unpriced.
    pub fn record_sent(&mut self, index: u64, prompt: u64, completion: u64, cost: Option<f64>) {
        self.cost_usd += cost.unwrap_or(0.0);
        self.unpriced_calls += u64::from(cost.is_none());
        add(
            self.items.entry(index).or_default(),
            prompt,
            completion,
            cost,
        );
    }

    /// A call of item `index` was answered without a request.
    pub fn record_saved(
        &mut self,
        index: u64,
        saving: Saving,
        prompt: u64,
        completion: u64,
        cost: Option<f64>,
    ) {
        add(&mut self.saved, prompt, completion, cost);
        let item = self.items.entry(index).or_default();
        item.calls += 1;
        match saving {
            Saving::CacheHit => {
                self.saved.cache_hits += 1;
                item.cache_hits += 1;
            }
            Saving::Coalesced => {
                self.saved.coalesced += 1;
                item.coalesced += 1;
            }
        }
    }

    /// Whether a call whose worst case is `worst_usd` fits under the cap
    /// (always, without one).
    pub fn fit(&self, worst_usd: f64) -> Fit {
        let Some(cap) = self.max_cost_usd else {
            return Fit::Now;
        };
        if self.cost_usd + worst_usd > cap {
            Fit::Never
        } else if self.cost_usd + self.reserved_usd + worst_usd > cap {
            Fit::Later
        } else {
            Fit::Now
        }
    }

    /// Reserves `usd` for a call about to be sent.
    pub fn reserve(&mut self, usd: f64) {
        self.reserved_usd += usd;
        self.reservations += 1;
    }

    /// Gives back the reservation `usd` of a call answered or not sent
    /// (exactly zero once none is left, so rounding never accumulates).
    pub fn release(&mut self, usd: f64) {
        self.reservations = self.reservations.saturating_sub(1);
        self.reserved_usd = if self.reservations == 0 {
            0.0
        } else {
            (self.reserved_usd - usd).max(0.0)
        };
    }

    /// A request of item `index`'s step `step` was billed a second time
    /// (`cost`; None: unpriced): a hedged batch's late copy of a call
    /// answered online. It adds to the cost (of the job, the item and the
    /// step), not to the calls of either way.
    pub fn record_billed_twice(
        &mut self,
        index: u64,
        step: u32,
        tokens: (u64, u64),
        cost: Option<f64>,
    ) {
        let cost_usd = cost.unwrap_or(0.0);
        self.cost_usd += cost_usd;
        self.billed_twice_usd += cost_usd;
        self.unpriced_calls += u64::from(cost.is_none());
        let item = self.items.entry(index).or_default();
        item.prompt_tokens += tokens.0;
        item.completion_tokens += tokens.1;
        item.cost_usd += cost_usd;
        if let Some(routes) = self.steps.get_mut(&step) {
            routes.cost_usd += cost_usd;
        }
    }

    /// A request of step `step` was answered, by provider batch or online,
    /// at `cost` against `online_cost` all online (None: unpriced).
    pub fn record_route(
        &mut self,
        step: u32,
        by_batch: bool,
        cost: Option<f64>,
        online_cost: Option<f64>,
    ) {
        let routes = self.steps.entry(step).or_insert_with(|| StepRoutes {
            step,
            ..Default::default()
        });
        if by_batch {
            routes.batch_calls += 1;
        } else {
            routes.online_calls += 1;
        }
        routes.cost_usd += cost.unwrap_or(0.0);
        routes.online_cost_usd += online_cost.unwrap_or(0.0);
    }

    /// The requests sent, per step, in step order.
    pub fn steps(&self) -> Vec<StepRoutes> {
        self.steps.values().cloned().collect()
    }

    /// Whether the cap is reached.
    pub fn over_budget(&self) -> bool {
        self.max_cost_usd.is_some_and(|cap| self.cost_usd >= cap)
    }

    /// The usage of item `index`, taken when its result is sent.
    pub fn take_item(&mut self, index: u64) -> Option<Usage> {
        self.items.remove(&index)
    }
}

fn add(usage: &mut Usage, prompt: u64, completion: u64, cost: Option<f64>) {
    usage.calls += 1;
    usage.prompt_tokens += prompt;
    usage.completion_tokens += completion;
    usage.cost_usd += cost.unwrap_or(0.0);
    usage.unpriced_calls += u64::from(cost.is_none());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_fits_under_the_cap_minus_spend_and_reservations() {
        let mut spend = JobSpend::new(Some(1.0));
        assert_eq!(spend.fit(1.0), Fit::Now, "exactly the cap fits");
        spend.reserve(0.6);
        assert_eq!(spend.fit(0.4), Fit::Now);
        assert_eq!(spend.fit(0.5), Fit::Later, "once the 0.6 comes back");
        spend.record_sent(0, 10, 5, Some(0.3));
        spend.release(0.6);
        assert_eq!(spend.reserved_usd, 0.0);
        assert_eq!(spend.fit(0.7), Fit::Now);
        assert_eq!(spend.fit(0.71), Fit::Never);
        assert_eq!(JobSpend::new(None).fit(1e9), Fit::Now, "no cap");
    }

    #[test]
    fn sent_calls_count_against_the_cap_and_saved_ones_do_not() {
        let mut spend = JobSpend::new(Some(0.01));
        spend.record_saved(0, Saving::CacheHit, 10, 5, Some(0.5));
        assert!(!spend.over_budget(), "a cache hit spends nothing");
        spend.record_sent(1, 10, 5, Some(0.004));
        spend.record_sent(1, 10, 5, None);
        assert!(!spend.over_budget());
        assert_eq!(spend.unpriced_calls, 1);
        spend.record_sent(2, 10, 5, Some(0.006));
        assert!(spend.over_budget());
        let item = spend.take_item(1).expect("item 1 has usage");
        assert_eq!(
            (item.calls, item.prompt_tokens, item.unpriced_calls),
            (2, 20, 1)
        );
        assert_eq!(spend.take_item(1), None, "taken once");
        let hit = spend.take_item(0).expect("item 0 has usage");
        assert_eq!((hit.calls, hit.cache_hits, hit.cost_usd), (1, 1, 0.0));
        assert_eq!(spend.saved.cache_hits, 1);
        assert_eq!(spend.saved.cost_usd, 0.5);
    }

    #[test]
    fn routes_are_counted_per_step_against_all_online() {
        let mut spend = JobSpend::new(None);
        spend.record_route(2, true, Some(0.5), Some(1.0));
        spend.record_route(1, true, Some(0.5), Some(1.0));
        spend.record_route(2, false, Some(1.0), Some(1.0));
        spend.record_route(2, false, None, None);
        let steps = spend.steps();
        assert_eq!(steps.iter().map(|s| s.step).collect::<Vec<_>>(), [1, 2]);
        let two = &steps[1];
        assert_eq!((two.batch_calls, two.online_calls), (1, 2));
        assert_eq!((two.cost_usd, two.online_cost_usd), (1.5, 2.0));
    }
}
