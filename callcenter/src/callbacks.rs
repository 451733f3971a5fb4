//! The satisfaction-callback scheduler: claims due callback jobs (a lease, so several nodes
//! never dial one job), decides with [`CallbackPolicy`] whether to call now, records the attempt
//! under its idempotency key before placing the call, runs the survey flow through the trunk,
//! and records the answers and the outcome. A node that dies mid-call leaves its attempt in
//! doubt; once its lease runs out another node marks it so and goes on with the next attempt.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_core::callback::{AfterAttempt, CallbackJob, CallbackPolicy, Callee, JobStatus, NewSurvey, Next, Outcome};
use crm_core::model::Actor;
use crm_core::{Store, StoreResult};
use tokio::sync::watch;

use voice::{DialError, Dialer, SurveyEnd};

#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: CallbackPolicy,
    /// This node's name on the leases it takes.
    pub node: String,
    pub lease_seconds: u32,
    /// The survey's IVR flow.
    pub flow: String,
    /// How often due jobs are looked for.
    pub poll: Duration,
}

/// Run until `shutdown` turns true.
pub async fn run(store: Arc<dyn Store>, dialer: Dialer, settings: Settings, mut shutdown: watch::Receiver<bool>) {
    tracing::info!(node = %settings.node, "satisfaction callbacks scheduled");
    loop {
        if let Err(e) = tick(store.clone(), &dialer, &settings).await {
            tracing::warn!(error = %e, "callback scheduling failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            _ = shutdown.wait_for(|v| *v) => break,
        }
    }
}

/// One round: recover attempts of dead nodes, claim what is due, handle each job.
async fn tick(store: Arc<dyn Store>, dialer: &Dialer, s: &Settings) -> StoreResult<()> {
    let now = Utc::now();
    let recovered = store.recover_callbacks(now).await?;
    if recovered > 0 {
        tracing::warn!(
            attempts = recovered,
            "callback attempts left in doubt by a node that stopped"
        );
    }
    for job in store.claim_callbacks(&s.node, now, s.lease_seconds, 20).await? {
        let (store, dialer, s) = (store.clone(), dialer.clone(), s.clone());
        tokio::spawn(async move {
            let id = job.id;
            if let Err(e) = handle(store.as_ref(), &dialer, &s, job).await {
                tracing::warn!(job = id, error = %e, "callback failed; it is retried once its lease ends");
            }
        });
    }
    Ok(())
}

/// The start of the customer's local day containing `now`, as an instant.
fn local_midnight(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    let date = now.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map_or(now - chrono::Duration::hours(24), |d| d.with_timezone(&Utc))
}

async fn handle(store: &dyn Store, dialer: &Dialer, s: &Settings, job: CallbackJob) -> StoreResult<()> {
    let now = Utc::now();
    let customer = store.get_customer(job.customer_id).await?;
    let callee = Callee {
        tz: customer.time_zone.tz(),
        do_not_call: customer.do_not_call,
    };
    let due = if job.attempts == 0 {
        job.due_at.max(s.policy.first_due(job.created_at))
    } else {
        job.due_at
    };
    let today = store
        .customer_attempts_since(job.customer_id, local_midnight(now, callee.tz))
        .await?;
    let after = match s.policy.next(now, callee, due, job.attempts, today) {
        Next::Wait(t) => Some(AfterAttempt::Retry(t)),
        Next::Stop(reason) => {
            tracing::info!(job = job.id, reason = reason.as_str(), "callback ends without a call");
            Some(AfterAttempt::End(match reason {
                crm_core::callback::StopReason::DoNotCall => JobStatus::DoNotCall,
                crm_core::callback::StopReason::Exhausted => JobStatus::Exhausted,
            }))
        }
        Next::Dial => None,
    };
    if let Some(after) = after {
        store.defer_callback(&s.node, job.id, now, after).await?;
        return Ok(());
    }
    let Some(phone) = customer.phones.first() else {
        tracing::info!(
            job = job.id,
            "the customer has no phone number; the callback becomes an agent's task"
        );
        store
            .defer_callback(&s.node, job.id, now, AfterAttempt::End(JobStatus::Exhausted))
            .await?;
        return Ok(());
    };
    // Recorded (and committed) before the call is placed: never placed twice.
    let attempt = store.begin_attempt(&s.node, job.id, now).await?;
    tracing::info!(job = job.id, attempt = attempt.attempt, key = %attempt.idempotency_key, "placing a satisfaction callback");
    let ended = match dialer
        .dial_survey(phone.number.as_str(), &s.flow, &attempt.idempotency_key)
        .await
    {
        Ok((_, ended)) => {
            // Keep the lease while the call lasts.
            tokio::pin!(ended);
            let every = Duration::from_secs(u64::from(s.lease_seconds / 3).max(1));
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tokio::select! {
                    e = &mut ended => break e.ok(),
                    _ = renew.tick() => {
                        if let Err(e) = store.renew_callback(&s.node, job.id, Utc::now(), s.lease_seconds).await {
                            tracing::warn!(job = job.id, error = %e, "the callback's lease could not be renewed");
                        }
                    }
                }
            }
        }
        Err(DialError::Invalid(field, why)) => {
            tracing::warn!(job = job.id, field, %why, "the callback cannot be placed");
            None
        }
        Err(DialError::Unavailable(why)) => {
            tracing::warn!(job = job.id, %why, "the callback cannot be placed now");
            None
        }
    };
    let outcome = match &ended {
        Some(e) => outcome_of(e),
        None => Outcome::Failed,
    };
    let done = Utc::now();
    if let Some((repair, technician, fixed)) = ended.as_ref().and_then(|e| e.answers) {
        let survey = NewSurvey {
            repair_order_id: job.repair_order_id,
            job_id: Some(job.id),
            repair_score: repair,
            technician_score: technician,
            fixed_first_time: fixed,
            comment_path: ended
                .as_ref()
                .and_then(|e| e.comment.as_ref())
                .map(|p| p.display().to_string()),
        };
        match store.record_survey(Actor::SYSTEM, &survey, done).await {
            Ok(r) => tracing::info!(job = job.id, survey = r.id, "survey recorded"),
            Err(crm_core::StoreError::Conflict { .. }) => {
                tracing::info!(job = job.id, "the repair was surveyed already")
            }
            Err(e) => return Err(e),
        }
    }
    let after = if attempt.attempt >= s.policy.max_attempts {
        AfterAttempt::End(JobStatus::Exhausted)
    } else {
        AfterAttempt::Retry(s.policy.retry_due(attempt.attempt, done))
    };
    let job = store.finish_attempt(attempt.id, outcome, done, after).await?;
    tracing::info!(
        job = job.id,
        outcome = outcome.as_str(),
        status = job.status.as_str(),
        "callback attempt ended"
    );
    Ok(())
}

/// How a survey call went, from how it ended.
pub fn outcome_of(e: &SurveyEnd) -> Outcome {
    if e.answered {
        return Outcome::Answered;
    }
    match e.end_reason.as_str() {
        "sip_486" | "sip_600" => Outcome::Busy,
        "sip_408" | "sip_480" | "sip_487" | "timeout" | "cancelled" => Outcome::NoAnswer,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(answered: bool, reason: &str) -> SurveyEnd {
        SurveyEnd {
            answered,
            end_reason: reason.into(),
            answers: None,
            comment: None,
            call_id: "x".into(),
        }
    }

    #[test]
    fn outcomes_follow_how_the_call_ended() {
        assert_eq!(outcome_of(&end(true, "callee_hangup")), Outcome::Answered);
        assert_eq!(outcome_of(&end(false, "sip_486")), Outcome::Busy);
        assert_eq!(outcome_of(&end(false, "sip_480")), Outcome::NoAnswer);
        assert_eq!(outcome_of(&end(false, "timeout")), Outcome::NoAnswer);
        assert_eq!(outcome_of(&end(false, "sip_503")), Outcome::Failed);
    }

    #[test]
    fn the_local_day_starts_at_local_midnight() {
        let now: DateTime<Utc> = "2026-11-30T23:30:00Z".parse().unwrap();
        // Already Tuesday in Berlin.
        assert_eq!(
            local_midnight(now, chrono_tz::Europe::Berlin),
            "2026-11-30T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
