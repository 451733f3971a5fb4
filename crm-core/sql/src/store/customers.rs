//! `CustomerStore`: customers with their phones and addresses, interactions, matching on import.

use super::*;

pub(super) fn search_name(name: &str, email: Option<&Email>) -> String {
    match email {
        Some(e) => format!("{} {}", name.to_lowercase(), e.as_str().to_lowercase()),
        None => name.to_lowercase(),
    }
}

pub(super) async fn write_phones(c: &mut Conn, customer_id: i64, phones: &[Phone]) -> StoreResult<()> {
    sqlx::query::<Db>("DELETE FROM customer_phones WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    for (i, p) in phones.iter().enumerate() {
        sqlx::query::<Db>("INSERT INTO customer_phones (customer_id, position, e164, label) VALUES ($1, $2, $3, $4)")
            .bind(customer_id)
            .bind(i as i32)
            .bind(p.number.as_str())
            .bind(p.label.as_str())
            .execute(&mut *c)
            .await
            .map_err(unique_as("phones"))?;
    }
    Ok(())
}

pub(super) async fn write_addresses(c: &mut Conn, customer_id: i64, addresses: &[Address]) -> StoreResult<()> {
    sqlx::query::<Db>("DELETE FROM customer_addresses WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    for (i, a) in addresses.iter().enumerate() {
        sqlx::query::<Db>(
            "INSERT INTO customer_addresses (customer_id, position, label, line1, line2, postal_code, city, country, lat, lon) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(customer_id)
        .bind(i as i32)
        .bind(&a.label)
        .bind(a.line1.as_str())
        .bind(a.line2.as_deref())
        .bind(&a.postal_code)
        .bind(a.city.as_str())
        .bind(&a.country)
        .bind(a.location.map(|p| p.lat))
        .bind(a.location.map(|p| p.lon))
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

pub(super) async fn insert_customer(c: &mut Conn, n: &NewCustomer) -> StoreResult<i64> {
    let id: i64 = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO customers (kind, name, search_name, email, time_zone, do_not_call, marketing_consent, birthday, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(n.kind.as_str())
    .bind(n.name.as_str())
    .bind(search_name(n.name.as_str(), n.email.as_ref()))
    .bind(n.email.as_ref().map(Email::as_str))
    .bind(n.time_zone.as_str())
    .bind(n.do_not_call)
    .bind(n.marketing_consent)
    .bind(n.birthday)
    .bind(now())
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    write_phones(c, id, &n.phones).await?;
    write_addresses(c, id, &n.addresses).await?;
    Ok(id)
}

/// Load customers with phones and addresses, in the order of `ids`.
/// An interaction on a customer's history, in the caller's transaction.
pub(super) async fn insert_interaction(
    c: &mut Conn,
    actor: Actor,
    customer_id: i64,
    i: &NewInteraction,
) -> StoreResult<Interaction> {
    require_found(c, "customers", customer_id, "customer").await?;
    let at = i.at.map(crate::common::trunc).unwrap_or_else(now);
    let id = sqlx::query_scalar::<Db, i64>(
        "INSERT INTO interactions (customer_id, kind, direction, at, summary, user_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(customer_id)
    .bind(i.kind.as_str())
    .bind(i.direction.as_str())
    .bind(at)
    .bind(i.summary.as_str())
    .bind(actor.user_id)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    audit(
        c,
        actor,
        "create",
        "interaction",
        Some(id),
        serde_json::json!({ "customer_id": customer_id, "kind": i.kind }),
    )
    .await?;
    Ok(Interaction {
        id,
        customer_id,
        kind: i.kind,
        direction: i.direction,
        at,
        summary: i.summary.as_str().to_string(),
        user_id: actor.user_id,
    })
}

/// The customer an imported row stands for, when one exists: by any of its phone numbers, else
/// by its e-mail address (compared without case).
pub(super) async fn match_customer(c: &mut Conn, n: &NewCustomer) -> StoreResult<Option<ImportedCustomer>> {
    for p in &n.phones {
        let id = sqlx::query_scalar::<Db, i64>(
            "SELECT customer_id FROM customer_phones WHERE e164 = $1 ORDER BY customer_id LIMIT 1",
        )
        .bind(p.number.as_str())
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
        if let Some(id) = id {
            return Ok(Some(ImportedCustomer {
                id,
                matched: ImportMatch::Phone,
            }));
        }
    }
    if let Some(email) = &n.email {
        let id = sqlx::query_scalar::<Db, i64>("SELECT id FROM customers WHERE lower(email) = $1 ORDER BY id LIMIT 1")
            .bind(email.as_str().to_lowercase())
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
        if let Some(id) = id {
            return Ok(Some(ImportedCustomer {
                id,
                matched: ImportMatch::Email,
            }));
        }
    }
    Ok(None)
}

pub(super) fn interaction_from_row(r: &Row) -> StoreResult<Interaction> {
    let kind: String = get(r, "kind")?;
    let dir: String = get(r, "direction")?;
    Ok(Interaction {
        id: get(r, "id")?,
        customer_id: get(r, "customer_id")?,
        kind: decode(InteractionKind::parse(&kind), "kind")?,
        direction: decode(Direction::parse(&dir), "direction")?,
        at: get(r, "at")?,
        summary: get(r, "summary")?,
        user_id: get(r, "user_id")?,
    })
}

pub(super) async fn load_interaction(c: &mut Conn, id: i64) -> StoreResult<Interaction> {
    let row = sqlx::query::<Db>(
        "SELECT id, customer_id, kind, direction, at, summary, user_id FROM interactions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::not_found("interaction"))?;
    interaction_from_row(&row)
}

pub(super) async fn load_customers(c: &mut Conn, ids: &[i64]) -> StoreResult<Vec<Customer>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let ph = placeholders(1, ids.len());
    let sql = format!(
        "SELECT id, kind, name, email, time_zone, do_not_call, marketing_consent, birthday, created_at FROM customers WHERE id IN ({ph})"
    );
    let mut q = sqlx::query::<Db>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut *c).await.map_err(db_err)?;
    let mut by_id = std::collections::HashMap::new();
    for r in &rows {
        let email: Option<String> = get(r, "email")?;
        let tz: String = get(r, "time_zone")?;
        let kind: String = get(r, "kind")?;
        let id: i64 = get(r, "id")?;
        by_id.insert(
            id,
            Customer {
                id,
                kind: decode(CustomerKind::parse(&kind), "kind")?,
                name: get(r, "name")?,
                email: email.map(|e| decode(Email::parse(&e), "email")).transpose()?,
                time_zone: decode(TimeZone::parse(&tz), "time_zone")?,
                do_not_call: get(r, "do_not_call")?,
                marketing_consent: get(r, "marketing_consent")?,
                birthday: get(r, "birthday")?,
                phones: vec![],
                addresses: vec![],
                created_at: get(r, "created_at")?,
            },
        );
    }
    let sql = format!("SELECT customer_id, e164, label FROM customer_phones WHERE customer_id IN ({ph}) ORDER BY customer_id, position");
    let mut q = sqlx::query::<Db>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        let cid: i64 = get(&r, "customer_id")?;
        let num: String = get(&r, "e164")?;
        let label: String = get(&r, "label")?;
        if let Some(cu) = by_id.get_mut(&cid) {
            cu.phones.push(Phone {
                number: decode(PhoneNumber::parse(&num), "phone")?,
                label: decode(PhoneLabel::parse(&label), "label")?,
            });
        }
    }
    let sql = format!(
        "SELECT customer_id, label, line1, line2, postal_code, city, country, lat, lon FROM customer_addresses \
         WHERE customer_id IN ({ph}) ORDER BY customer_id, position"
    );
    let mut q = sqlx::query::<Db>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *c).await.map_err(db_err)? {
        let cid: i64 = get(&r, "customer_id")?;
        let line1: String = get(&r, "line1")?;
        let city: String = get(&r, "city")?;
        let addr = Address {
            label: get(&r, "label")?,
            line1: decode(Text::parse(&line1), "line1")?,
            line2: get(&r, "line2")?,
            postal_code: get(&r, "postal_code")?,
            city: decode(Text::parse(&city), "city")?,
            country: get(&r, "country")?,
            location: get_point(&r)?,
        };
        if let Some(cu) = by_id.get_mut(&cid) {
            cu.addresses.push(addr);
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

pub(super) async fn load_customer(c: &mut Conn, id: i64) -> StoreResult<Customer> {
    load_customers(c, &[id])
        .await?
        .pop()
        .ok_or(StoreError::not_found("customer"))
}

/// Digits to look for in stored E.164 numbers when a query looks like a phone number.
pub(super) fn phone_digits(q: &str) -> Option<String> {
    if !q.chars().all(|c| c.is_ascii_digit() || " +-()/.".contains(c)) {
        return None;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let national = if q.trim_start().starts_with('+') {
        digits.as_str()
    } else if let Some(d) = digits.strip_prefix("00") {
        d
    } else {
        digits.strip_prefix('0').unwrap_or(&digits)
    };
    (national.len() >= 4).then(|| national.to_string())
}

#[async_trait]
impl CustomerStore for This {
    async fn create_customer(&self, actor: Actor, n: &NewCustomer) -> StoreResult<Customer> {
        let mut tx = self.tx().await?;
        let id = insert_customer(&mut tx, n).await?;
        audit(&mut tx, actor, "create", "customer", Some(id), to_json(n)).await?;
        let out = load_customer(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_customer(&self, id: i64) -> StoreResult<Customer> {
        load_customer(&mut *self.conn().await?, id).await
    }

    async fn update_customer(&self, actor: Actor, id: i64, p: &CustomerPatch) -> StoreResult<Customer> {
        let mut tx = self.tx().await?;
        lock_row(&mut tx, "customers", id, "customer").await?;
        let cur = load_customer(&mut tx, id).await?;
        let name = p
            .name
            .as_ref()
            .map(|n| n.as_str().to_string())
            .unwrap_or(cur.name.clone());
        let email = p.email.clone().unwrap_or(cur.email.clone());
        sqlx::query::<Db>(
            "UPDATE customers SET name = $1, search_name = $2, email = $3, time_zone = $4, do_not_call = $5, \
             marketing_consent = $6, birthday = $7 WHERE id = $8",
        )
        .bind(&name)
        .bind(search_name(&name, email.as_ref()))
        .bind(email.as_ref().map(Email::as_str))
        .bind(p.time_zone.unwrap_or(cur.time_zone).as_str())
        .bind(p.do_not_call.unwrap_or(cur.do_not_call))
        .bind(p.marketing_consent.unwrap_or(cur.marketing_consent))
        .bind(p.birthday.unwrap_or(cur.birthday))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(phones) = &p.phones {
            write_phones(&mut tx, id, phones).await?;
        }
        if let Some(addresses) = &p.addresses {
            write_addresses(&mut tx, id, addresses).await?;
        }
        audit(&mut tx, actor, "update", "customer", Some(id), to_json(p)).await?;
        let out = load_customer(&mut tx, id).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn search_customers(&self, q: &CustomerQuery) -> StoreResult<Vec<Customer>> {
        let mut c = self.conn().await?;
        let mut sql = String::from("SELECT c.id FROM customers c WHERE 1 = 1");
        let mut binds: Vec<String> = vec![];
        if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if let Some(d) = phone_digits(text) {
                binds.push(format!("%{d}%"));
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM customer_phones p WHERE p.customer_id = c.id AND p.e164 LIKE ${})",
                    binds.len()
                ));
            } else {
                binds.push(like_pattern(&text.to_lowercase()));
                sql.push_str(&format!(" AND c.search_name LIKE ${} ESCAPE '\\'", binds.len()));
            }
        }
        sql.push_str(&format!(
            " ORDER BY c.search_name, c.id LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        ));
        let mut query = sqlx::query_scalar::<Db, i64>(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let ids = query
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        load_customers(&mut c, &ids).await
    }

    async fn find_customer_by_phone(&self, phone: &PhoneNumber) -> StoreResult<Option<i64>> {
        sqlx::query_scalar::<Db, i64>(
            "SELECT customer_id FROM customer_phones WHERE e164 = $1 ORDER BY customer_id LIMIT 1",
        )
        .bind(phone.as_str())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)
    }

    async fn import_customers(&self, actor: Actor, rows: &[NewCustomer]) -> StoreResult<Vec<ImportedCustomer>> {
        let mut tx = self.tx().await?;
        // Two imports at once would each miss the other's rows: one at a time.
        sqlx::query::<Db>(IMPORT_LOCK).execute(&mut *tx).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        let (mut created, mut matched) = (0usize, 0usize);
        for (i, n) in rows.iter().enumerate() {
            if let Some(found) = match_customer(&mut tx, n).await? {
                matched += 1;
                out.push(found);
                continue;
            }
            let id = insert_customer(&mut tx, n).await.map_err(|e| match e {
                StoreError::Conflict { field, message } => StoreError::conflict(format!("rows[{i}].{field}"), message),
                other => other,
            })?;
            created += 1;
            out.push(ImportedCustomer {
                id,
                matched: ImportMatch::Created,
            });
        }
        audit(
            &mut tx,
            actor,
            "import",
            "customer",
            None,
            serde_json::json!({ "rows": rows.len(), "created": created, "matched": matched }),
        )
        .await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn add_interaction(&self, actor: Actor, customer_id: i64, i: &NewInteraction) -> StoreResult<Interaction> {
        let mut tx = self.tx().await?;
        let out = insert_interaction(&mut tx, actor, customer_id, i).await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn list_interactions(&self, customer_id: i64, limit: u32) -> StoreResult<Vec<Interaction>> {
        let rows = sqlx::query::<Db>(
            "SELECT id, customer_id, kind, direction, at, summary, user_id FROM interactions WHERE customer_id = $1 \
             ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.iter().map(interaction_from_row).collect()
    }
}

// ------------------------------------------------------------------------------------ catalogue
