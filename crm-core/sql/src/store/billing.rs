//! `BillingStore`: quotes for customer-paid work, the invoice issued at completion (numbered
//! without gaps per station and year), payments, overdue reminders and revenue.
//!
//! The technician's flow checks the quote ([`require_accepted_quote`]) and issues the invoice
//! ([`issue_invoice`]) inside its own transaction (`store/field.rs`).

use super::*;
use crm_core::billing::*;
use crm_core::claims::standard_on;

const QUOTE_COLS: &str = "id, repair_order_id, version, status, currency, lines, net_minor, tax_minor, total_minor, \
     payment_days, created_at, acceptance";
const INVOICE_COLS: &str = "id, number, repair_order_id, quote_id, station_id, customer_id, model_id, issued_on, \
     due_on, currency, lines, net_minor, tax_minor, total_minor, paid_minor, status";

fn totals_from_row(r: &Row) -> StoreResult<Totals> {
    Ok(Totals {
        net_minor: get(r, "net_minor")?,
        tax_minor: get(r, "tax_minor")?,
        total_minor: get(r, "total_minor")?,
    })
}

fn quote_from_row(r: &Row) -> StoreResult<Quote> {
    let acceptance: Option<String> = get(r, "acceptance")?;
    Ok(Quote {
        id: get(r, "id")?,
        repair_order_id: get(r, "repair_order_id")?,
        version: get_u32(r, "version")?,
        status: decode(QuoteStatus::parse(&get::<String>(r, "status")?), "status")?,
        currency: get(r, "currency")?,
        lines: json_col(&get::<String>(r, "lines")?, "lines")?,
        totals: totals_from_row(r)?,
        created_at: get(r, "created_at")?,
        acceptance: acceptance.map(|a| json_col(&a, "acceptance")).transpose()?,
    })
}

/// The newest version of an order's quote, with its payment terms.
async fn current_quote(c: &mut Conn, repair_order_id: i64) -> StoreResult<Option<(Quote, u32)>> {
    let sql = format!("SELECT {QUOTE_COLS} FROM quotes WHERE repair_order_id = $1 ORDER BY version DESC LIMIT 1");
    match sqlx::query::<Db>(&sql)
        .bind(repair_order_id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
    {
        Some(r) => Ok(Some((quote_from_row(&r)?, get_u32(&r, "payment_days")?))),
        None => Ok(None),
    }
}

/// Work on a repair its warranty does not fully cover needs the customer's acceptance of the
/// current quote first; a part beyond what that quote lists needs a new quote. `part`: the part
/// about to be used, and how many; `w`, the asset's warranty today.
pub(super) async fn require_accepted_quote(
    c: &mut Conn,
    repair_order_id: i64,
    w: &crm_core::warranty::WarrantyStatus,
    part: Option<(i64, u32)>,
) -> StoreResult<()> {
    if w.covers_parts && w.covers_labor {
        return Ok(());
    }
    let Some((quote, _)) = current_quote(c, repair_order_id).await? else {
        return Err(StoreError::conflict(
            "quote",
            "the warranty does not cover this repair: make a quote and have the customer accept it before the work",
        ));
    };
    if quote.status != QuoteStatus::Accepted {
        return Err(StoreError::conflict(
            "quote",
            format!(
                "quote version {} is not accepted yet; the customer accepts it before the work",
                quote.version
            ),
        ));
    }
    if let Some((part_id, quantity)) = part {
        let used = sqlx::query_scalar::<Db, Option<i64>>(
            "SELECT CAST(SUM(quantity) AS BIGINT) FROM repair_parts WHERE repair_order_id = $1 AND part_id = $2",
        )
        .bind(repair_order_id)
        .bind(part_id)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?
        .unwrap_or(0);
        let quoted = quoted_quantity(&quote.lines, part_id);
        if used + i64::from(quantity) > quoted {
            return Err(StoreError::conflict(
                "quote",
                format!(
                    "part {part_id}: the accepted quote (version {}) has {quoted}, {used} used; a change needs a new quote the customer accepts",
                    quote.version
                ),
            ));
        }
    }
    Ok(())
}

/// The invoice for a completed repair: from its accepted quote, when that charges anything.
/// Numbered from the station's counter for the year (of the station's local date), in the
/// completion's transaction, so a rolled-back completion leaves no gap.
pub(super) async fn issue_invoice(c: &mut Conn, repair_order_id: i64, at: DateTime<Utc>) -> StoreResult<()> {
    let Some((quote, payment_days)) = current_quote(c, repair_order_id).await? else {
        return Ok(());
    };
    if quote.status != QuoteStatus::Accepted || quote.totals.total_minor == 0 {
        return Ok(());
    }
    let r = sqlx::query::<Db>(
        "SELECT ro.station_id, ro.customer_id, a.model_id, s.time_zone FROM repair_orders ro JOIN assets a ON a.id = ro.asset_id \
         JOIN stations s ON s.id = ro.station_id WHERE ro.id = $1",
    )
    .bind(repair_order_id)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::conflict("station_id", "a repair without a station cannot be invoiced"))?;
    let station_id: i64 = get(&r, "station_id")?;
    let tz = decode(TimeZone::parse(&get::<String>(&r, "time_zone")?), "time_zone")?;
    let issued_on = at.with_timezone(&tz.tz()).date_naive();
    let year = chrono::Datelike::year(&issued_on);
    sqlx::query::<Db>(
        "INSERT INTO invoice_counters (station_id, year, last_seq) VALUES ($1, $2, 0) ON CONFLICT (station_id, year) DO NOTHING",
    )
    .bind(station_id)
    .bind(i64::from(year))
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    let seq = sqlx::query_scalar::<Db, i64>(
        "UPDATE invoice_counters SET last_seq = last_seq + 1 WHERE station_id = $1 AND year = $2 RETURNING last_seq",
    )
    .bind(station_id)
    .bind(i64::from(year))
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    let due = issued_on + chrono::Duration::days(i64::from(payment_days));
    sqlx::query::<Db>(
        "INSERT INTO invoices (number, station_id, year, seq, repair_order_id, quote_id, customer_id, model_id, issued_on, due_on, \
         currency, lines, net_minor, tax_minor, total_minor, paid_minor, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, 'open', $16)",
    )
    .bind(invoice_number(station_id, year, seq))
    .bind(station_id)
    .bind(i64::from(year))
    .bind(seq)
    .bind(repair_order_id)
    .bind(quote.id)
    .bind(get::<i64>(&r, "customer_id")?)
    .bind(get::<i64>(&r, "model_id")?)
    .bind(issued_on)
    .bind(due)
    .bind(&quote.currency)
    .bind(to_json(&quote.lines).to_string())
    .bind(quote.totals.net_minor)
    .bind(quote.totals.tax_minor)
    .bind(quote.totals.total_minor)
    .bind(trunc(at))
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn with_payments(c: &mut Conn, rows: Vec<Row>) -> StoreResult<Vec<Invoice>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let totals = totals_from_row(r)?;
        let paid: i64 = get(r, "paid_minor")?;
        out.push(Invoice {
            id: get(r, "id")?,
            number: get(r, "number")?,
            repair_order_id: get(r, "repair_order_id")?,
            quote_id: get(r, "quote_id")?,
            station_id: get(r, "station_id")?,
            customer_id: get(r, "customer_id")?,
            model_id: get(r, "model_id")?,
            issued_on: get(r, "issued_on")?,
            due_on: get(r, "due_on")?,
            currency: get(r, "currency")?,
            lines: json_col(&get::<String>(r, "lines")?, "lines")?,
            totals,
            paid_minor: paid,
            balance_minor: totals.total_minor - paid,
            status: decode(InvoiceStatus::parse(&get::<String>(r, "status")?), "status")?,
            payments: vec![],
        });
    }
    if out.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT id, invoice_id, method, amount_minor, paid_on, reference, recorded_at FROM payments \
         WHERE invoice_id IN ({}) ORDER BY id",
        placeholders(1, out.len())
    );
    let mut q = sqlx::query::<Db>(&sql);
    for i in &out {
        q = q.bind(i.id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        let invoice: i64 = get(&r, "invoice_id")?;
        if let Some(i) = out.iter_mut().find(|i| i.id == invoice) {
            i.payments.push(Payment {
                id: get(&r, "id")?,
                method: decode(PaymentMethod::parse(&get::<String>(&r, "method")?), "method")?,
                amount_minor: get(&r, "amount_minor")?,
                paid_on: get(&r, "paid_on")?,
                reference: get(&r, "reference")?,
                recorded_at: get(&r, "recorded_at")?,
            });
        }
    }
    Ok(out)
}

async fn load_invoice(c: &mut Conn, clause: &str, id: i64) -> StoreResult<Option<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLS} FROM invoices WHERE {clause} = $1");
    let rows = sqlx::query::<Db>(&sql)
        .bind(id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(with_payments(c, rows).await?.pop())
}

#[async_trait]
impl BillingStore for This {
    async fn create_quote(
        &self,
        actor: Actor,
        repair_order_id: i64,
        q: &QuoteRequest,
        rules: &BillingRules,
        now: DateTime<Utc>,
    ) -> StoreResult<(Quote, bool)> {
        q.validate()?;
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "repair_orders", repair_order_id, "repair_order").await?;
        let ro = sqlx::query::<Db>(
            "SELECT ro.status, ro.asset_id, ro.station_id, ro.fault_code, a.model_id FROM repair_orders ro \
             JOIN assets a ON a.id = ro.asset_id WHERE ro.id = $1",
        )
        .bind(repair_order_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let status: String = get(&ro, "status")?;
        if matches!(status.as_str(), "completed" | "cancelled" | "cannot_complete") {
            return Err(StoreError::conflict(
                "status",
                format!("the repair is {status}; it takes no new quote"),
            ));
        }
        let asset_id: i64 = get(&ro, "asset_id")?;
        let model_id: i64 = get(&ro, "model_id")?;
        let w = warranty_today(&mut tx, asset_id).await?;
        if w.covers_parts && w.covers_labor {
            return Err(StoreError::conflict(
                "repair_order_id",
                "the warranty covers parts and labour today: there is nothing to quote",
            ));
        }
        let fault_code: Option<String> = get(&ro, "fault_code")?;
        let (labour_minutes, labour_basis) = match (q.labour_minutes, &fault_code) {
            (Some(m), _) => (m, "estimated".to_string()),
            (None, Some(code)) => {
                let sql = format!(
                    "SELECT {} FROM standard_times WHERE model_id = $1 AND code = $2",
                    super::claims::STD_COLS
                );
                let versions = sqlx::query::<Db>(&sql)
                    .bind(model_id)
                    .bind(code)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(super::claims::std_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
                match standard_on(&versions, now.date_naive()) {
                    Some(s) => (s.minutes, format!("standard time for {code}")),
                    None => {
                        return Err(StoreError::invalid(
                            "labour_minutes",
                            format!("no standard time for this model and {code}: give the labour minutes"),
                        ))
                    }
                }
            }
            (None, None) => {
                return Err(StoreError::invalid(
                    "labour_minutes",
                    "no fault code recorded yet to look the standard time up: give the labour minutes",
                ))
            }
        };
        let mut parts = vec![];
        for p in &q.parts {
            let r = sqlx::query::<Db>("SELECT sku, name, price_minor, currency FROM parts WHERE id = $1")
                .bind(p.part_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| StoreError::invalid("parts.part_id", format!("no part {}", p.part_id)))?;
            if get::<String>(&r, "currency")? != rules.currency {
                return Err(StoreError::invalid(
                    "parts.part_id",
                    format!("part {} is not priced in {}", p.part_id, rules.currency),
                ));
            }
            parts.push(PricedPart {
                part_id: p.part_id,
                sku: get(&r, "sku")?,
                name: get(&r, "name")?,
                quantity: p.quantity,
                unit_minor: get(&r, "price_minor")?,
            });
        }
        let travel_km = match q.travel_km {
            Some(k) => Some(k),
            None => {
                let site = sqlx::query::<Db>(
                    "SELECT ad.lat, ad.lon, s.lat AS s_lat, s.lon AS s_lon FROM repair_orders ro \
                     JOIN customer_addresses ad ON ad.customer_id = ro.customer_id JOIN stations s ON s.id = ro.station_id \
                     WHERE ro.id = $1 AND ad.lat IS NOT NULL AND ad.lon IS NOT NULL ORDER BY ad.position, ad.id LIMIT 1",
                )
                .bind(repair_order_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                match site {
                    Some(r) => {
                        let home = GeoPoint {
                            lat: get(&r, "lat")?,
                            lon: get(&r, "lon")?,
                        };
                        let station = GeoPoint {
                            lat: get(&r, "s_lat")?,
                            lon: get(&r, "s_lon")?,
                        };
                        Some((distance_m(station, home) / 100.0).round() / 10.0)
                    }
                    None => None,
                }
            }
        };
        let input = QuoteInput {
            labour_minutes,
            labour_basis,
            parts,
            travel_km,
            covers_parts: w.covers_parts,
            covers_labor: w.covers_labor,
        };
        let lines = price(&input, rules);
        let t = totals(&lines);
        let current = current_quote(&mut tx, repair_order_id).await?;
        if let Some((cur, _)) = &current {
            if same_lines(&cur.lines, &lines) {
                return Ok((cur.clone(), false));
            }
        }
        let version = current.as_ref().map(|(q, _)| q.version + 1).unwrap_or(1);
        sqlx::query::<Db>(
            "UPDATE quotes SET status = 'superseded' WHERE repair_order_id = $1 AND status <> 'superseded'",
        )
        .bind(repair_order_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO quotes (repair_order_id, version, status, currency, lines, net_minor, tax_minor, total_minor, \
             payment_days, created_by, created_at) VALUES ($1, $2, 'offered', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(repair_order_id)
        .bind(i64::from(version))
        .bind(&rules.currency)
        .bind(to_json(&lines).to_string())
        .bind(t.net_minor)
        .bind(t.tax_minor)
        .bind(t.total_minor)
        .bind(i64::from(rules.payment_days))
        .bind(actor.user_id)
        .bind(trunc(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("version"))?;
        audit(
            &mut tx,
            actor,
            "create",
            "quote",
            Some(id),
            serde_json::json!({"repair_order_id": repair_order_id, "version": version, "total_minor": t.total_minor}),
        )
        .await?;
        let (quote, _) = current_quote(&mut tx, repair_order_id)
            .await?
            .ok_or_else(|| StoreError::Backend("quote vanished".into()))?;
        commit(tx).await?;
        Ok((quote, true))
    }

    async fn quotes(&self, repair_order_id: i64) -> StoreResult<Vec<Quote>> {
        let mut c = self.conn().await?;
        require_found(&mut c, "repair_orders", repair_order_id, "repair_order").await?;
        let sql = format!("SELECT {QUOTE_COLS} FROM quotes WHERE repair_order_id = $1 ORDER BY version");
        let rows = sqlx::query::<Db>(&sql)
            .bind(repair_order_id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        rows.iter().map(quote_from_row).collect()
    }

    async fn accept_quote(
        &self,
        actor: Actor,
        repair_order_id: i64,
        quote_id: i64,
        a: &NewAcceptance,
        now: DateTime<Utc>,
    ) -> StoreResult<Quote> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "repair_orders", repair_order_id, "repair_order").await?;
        let (current, _) = current_quote(&mut tx, repair_order_id)
            .await?
            .ok_or(StoreError::not_found("quote"))?;
        if current.id != quote_id {
            let exists =
                sqlx::query_scalar::<Db, i64>("SELECT version FROM quotes WHERE id = $1 AND repair_order_id = $2")
                    .bind(quote_id)
                    .bind(repair_order_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            return match exists {
                Some(v) => Err(StoreError::conflict(
                    "quote_id",
                    format!(
                        "version {v} was superseded by version {}; the customer accepts the current one",
                        current.version
                    ),
                )),
                None => Err(StoreError::not_found("quote")),
            };
        }
        if current.status == QuoteStatus::Accepted {
            return Ok(current);
        }
        let acceptance = match a {
            NewAcceptance::Signature {
                signed_by,
                signature_path,
            } => Acceptance {
                method: AcceptanceMethod::Signature,
                by: signed_by.as_str().to_string(),
                note: None,
                signature_path: Some(signature_path.clone()),
                recorded_by: actor.user_id,
                at: trunc(now),
            },
            NewAcceptance::Phone { customer_name, note } => Acceptance {
                method: AcceptanceMethod::Phone,
                by: customer_name.as_str().to_string(),
                note: Some(note.as_str().to_string()),
                signature_path: None,
                recorded_by: actor.user_id,
                at: trunc(now),
            },
        };
        sqlx::query::<Db>("UPDATE quotes SET status = 'accepted', acceptance = $1 WHERE id = $2")
            .bind(to_json(&acceptance).to_string())
            .bind(quote_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "update",
            "quote",
            Some(quote_id),
            serde_json::json!({"accepted": acceptance.method.as_str()}),
        )
        .await?;
        let (quote, _) = current_quote(&mut tx, repair_order_id)
            .await?
            .ok_or_else(|| StoreError::Backend("quote vanished".into()))?;
        commit(tx).await?;
        Ok(quote)
    }

    async fn invoice(&self, id: i64) -> StoreResult<Invoice> {
        load_invoice(&mut *self.conn().await?, "id", id)
            .await?
            .ok_or(StoreError::not_found("invoice"))
    }

    async fn invoice_for_order(&self, repair_order_id: i64) -> StoreResult<Option<Invoice>> {
        load_invoice(&mut *self.conn().await?, "repair_order_id", repair_order_id).await
    }

    async fn list_invoices(&self, station_id: Option<i64>, unpaid_only: bool, limit: u32) -> StoreResult<Vec<Invoice>> {
        let mut c = self.conn().await?;
        let mut sql = format!("SELECT {INVOICE_COLS} FROM invoices WHERE 1 = 1");
        if station_id.is_some() {
            sql.push_str(" AND station_id = $2");
        }
        if unpaid_only {
            sql.push_str(" AND status <> 'paid'");
        }
        sql.push_str(" ORDER BY id DESC LIMIT $1");
        let mut q = sqlx::query::<Db>(&sql).bind(i64::from(limit.clamp(1, 1000)));
        if let Some(s) = station_id {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&mut *c).await.map_err(db_err)?;
        with_payments(&mut c, rows).await
    }

    async fn record_payment(
        &self,
        actor: Actor,
        invoice_id: i64,
        p: &NewPayment,
        now: DateTime<Utc>,
    ) -> StoreResult<Invoice> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "invoices", invoice_id, "invoice").await?;
        let inv = load_invoice(&mut tx, "id", invoice_id)
            .await?
            .ok_or(StoreError::not_found("invoice"))?;
        let earlier = sqlx::query::<Db>(
            "SELECT method, amount_minor, paid_on FROM payments WHERE invoice_id = $1 AND request_key = $2",
        )
        .bind(invoice_id)
        .bind(&p.request_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(r) = earlier {
            let same = get::<String>(&r, "method")? == p.method.as_str()
                && get::<i64>(&r, "amount_minor")? == p.amount_minor
                && get::<NaiveDate>(&r, "paid_on")? == p.paid_on;
            if same {
                return Ok(inv);
            }
            return Err(StoreError::conflict(
                "request_key",
                "this key recorded a different payment",
            ));
        }
        // Days are the station's, as the invoice date is.
        let tz: String = sqlx::query_scalar::<Db, String>("SELECT time_zone FROM stations WHERE id = $1")
            .bind(inv.station_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let tz = decode(TimeZone::parse(&tz), "time_zone")?;
        p.validate(now.with_timezone(&tz.tz()).date_naive(), inv.issued_on)?;
        let (paid, status) = apply_payment(inv.totals.total_minor, inv.paid_minor, p.amount_minor)?;
        sqlx::query::<Db>(
            "INSERT INTO payments (invoice_id, method, amount_minor, paid_on, reference, request_key, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(invoice_id)
        .bind(p.method.as_str())
        .bind(p.amount_minor)
        .bind(p.paid_on)
        .bind(p.reference.as_ref().map(|t| t.as_str()))
        .bind(&p.request_key)
        .bind(actor.user_id)
        .bind(trunc(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query::<Db>("UPDATE invoices SET paid_minor = $1, status = $2 WHERE id = $3")
            .bind(paid)
            .bind(status.as_str())
            .bind(invoice_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        audit(
            &mut tx,
            actor,
            "create",
            "payment",
            Some(invoice_id),
            serde_json::json!({"method": p.method.as_str(), "amount_minor": p.amount_minor}),
        )
        .await?;
        let out = load_invoice(&mut tx, "id", invoice_id)
            .await?
            .ok_or_else(|| StoreError::Backend("invoice vanished".into()))?;
        commit(tx).await?;
        Ok(out)
    }

    async fn remind_overdue_invoices(&self, today: NaiveDate, now: DateTime<Utc>) -> StoreResult<u32> {
        let rows = {
            let mut c = self.conn().await?;
            let sql = format!(
                "SELECT {INVOICE_COLS} FROM invoices WHERE status <> 'paid' AND due_on < $1 ORDER BY id LIMIT 1000"
            );
            let rows = sqlx::query::<Db>(&sql)
                .bind(today)
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)?;
            with_payments(&mut c, rows).await?
        };
        let tasks: Vec<NewAgentTask> = rows
            .iter()
            .filter(|i| i.overdue(today))
            .map(|i| NewAgentTask {
                kind: AgentTaskKind::InvoiceOverdue,
                source: format!("invoice-{}-overdue", i.id),
                campaign_id: None,
                customer_id: Some(i.customer_id),
                repair_order_id: Some(i.repair_order_id),
                complaint_id: None,
                asset_id: None,
                summary: format!(
                    "Invoice {} was due on {}: {} {} of {} open. Call the customer about payment.",
                    i.number,
                    i.due_on,
                    minor_units(i.balance_minor),
                    i.currency,
                    minor_units(i.totals.total_minor)
                ),
                callback_number: None,
                cdr_id: None,
                due_at: now,
            })
            .collect();
        if tasks.is_empty() {
            return Ok(0);
        }
        self.raise_tasks(&tasks, now).await
    }

    async fn revenue_report(
        &self,
        period: &Period,
        by: RevenueBy,
        stations: Option<&[i64]>,
    ) -> StoreResult<Vec<RevenueRow>> {
        let (key, join, id) = match by {
            RevenueBy::Station => ("s.name", "JOIN stations s ON s.id = i.station_id", "i.station_id"),
            RevenueBy::Model => ("m.code", "JOIN product_models m ON m.id = i.model_id", "i.model_id"),
        };
        let sql = format!(
            "SELECT {id} AS id, {key} AS key, COUNT(*) AS invoices, CAST(SUM(i.net_minor) AS BIGINT) AS net, \
             CAST(SUM(i.tax_minor) AS BIGINT) AS tax, CAST(SUM(i.total_minor) AS BIGINT) AS total, \
             CAST(SUM(i.paid_minor) AS BIGINT) AS paid FROM invoices i {join} \
             WHERE i.issued_on BETWEEN $1 AND $2{} GROUP BY {id}, {key} ORDER BY total DESC, {id}",
            among_stations("i.station_id", stations)
        );
        let rows = sqlx::query::<Db>(&sql)
            .bind(period.from)
            .bind(period.to)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let total: i64 = get::<Option<i64>>(r, "total")?.unwrap_or(0);
                let paid: i64 = get::<Option<i64>>(r, "paid")?.unwrap_or(0);
                Ok(RevenueRow {
                    key: get(r, "key")?,
                    id: get(r, "id")?,
                    invoices: get::<i64>(r, "invoices")?.max(0) as u64,
                    net_minor: get::<Option<i64>>(r, "net")?.unwrap_or(0),
                    tax_minor: get::<Option<i64>>(r, "tax")?.unwrap_or(0),
                    total_minor: total,
                    paid_minor: paid,
                    outstanding_minor: total - paid,
                })
            })
            .collect()
    }
}

/// `12345` → `123.45`.
fn minor_units(v: i64) -> String {
    format!("{}.{:02}", v / 100, (v % 100).abs())
}
