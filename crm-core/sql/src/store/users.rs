//! `UserStore`: users, sessions and the audit log.

use super::*;

pub(super) const USER_COLS: &str =
    "u.id, u.username, u.display_name, u.role, u.technician_id, u.station_id, u.region, u.dealer_id";

pub(super) fn user_from_row(r: &Row) -> StoreResult<User> {
    let role: String = get(r, "role")?;
    Ok(User {
        id: get(r, "id")?,
        username: get(r, "username")?,
        display_name: get(r, "display_name")?,
        role: decode(Role::parse(&role), "role")?,
        technician_id: get(r, "technician_id")?,
        station_id: get(r, "station_id")?,
        region: get(r, "region")?,
        dealer_id: get(r, "dealer_id")?,
    })
}

#[async_trait]
impl UserStore for This {
    async fn create_user(&self, actor: Actor, u: &NewUserRecord) -> StoreResult<User> {
        let mut tx = self.tx().await?;
        if let Some(t) = u.technician_id {
            require(&mut tx, "technicians", t, "technician_id").await?;
        }
        match (u.role, u.station_id) {
            (Role::StationManager, None) => {
                return Err(StoreError::invalid(
                    "station_id",
                    "a station manager needs their station",
                ))
            }
            (Role::StationManager, Some(st)) => require(&mut tx, "stations", st, "station_id").await?,
            (_, Some(_)) => {
                return Err(StoreError::invalid(
                    "station_id",
                    "only a station manager has a station",
                ))
            }
            (_, None) => {}
        }
        match (u.role, u.dealer_id) {
            (Role::Dealer, None) => return Err(StoreError::invalid("dealer_id", "a dealer login needs its dealer")),
            (Role::Dealer, Some(d)) => require(&mut tx, "dealers", d, "dealer_id").await?,
            (_, Some(_)) => return Err(StoreError::invalid("dealer_id", "only a dealer login has a dealer")),
            (_, None) => {}
        }
        if u.region.is_some() && u.role != Role::Supervisor {
            return Err(StoreError::invalid("region", "only a supervisor is scoped to a region"));
        }
        let id = sqlx::query_scalar::<Db, i64>(
            "INSERT INTO users (username, display_name, role, technician_id, station_id, region, password_hash, created_at, dealer_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(u.role.as_str())
        .bind(u.technician_id)
        .bind(u.station_id)
        .bind(&u.region)
        .bind(&u.password_hash)
        .bind(now())
        .bind(u.dealer_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as("username"))?;
        audit(
            &mut tx,
            actor,
            "create",
            "user",
            Some(id),
            serde_json::json!({
                "username": u.username, "role": u.role, "technician_id": u.technician_id,
                "station_id": u.station_id, "region": u.region, "dealer_id": u.dealer_id,
            }),
        )
        .await?;
        commit(tx).await?;
        self.get_user(id).await
    }

    async fn get_user(&self, id: i64) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::not_found("user"))?;
        user_from_row(&r)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users u ORDER BY u.username");
        let rows = sqlx::query::<Db>(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.username = $1");
        let r = sqlx::query::<Db>(&sql)
            .bind(username)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        match r {
            Some(r) => Ok(Some((user_from_row(&r)?, get(&r, "password_hash")?))),
            None => Ok(None),
        }
    }

    async fn create_session(&self, token_hash: &str, user_id: i64, expires_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query::<Db>("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user_id)
            .bind(crate::common::trunc(expires_at))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2");
        let r = sqlx::query::<Db>(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        r.as_ref().map(user_from_row).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query::<Db>("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_agent_skills(
        &self,
        actor: Actor,
        user_id: i64,
        skills: &[AgentSkill],
    ) -> StoreResult<Vec<AgentSkill>> {
        AgentSkill::validate(skills).map_err(|e| StoreError::invalid("skills", e))?;
        let mut tx = self.tx().await?;
        require_found(&mut tx, "users", user_id, "user").await?;
        sqlx::query::<Db>("DELETE FROM agent_skills WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for s in skills {
            sqlx::query::<Db>("INSERT INTO agent_skills (user_id, skill, level) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(&s.skill)
                .bind(i16::from(s.level))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        audit(
            &mut tx,
            actor,
            "set_skills",
            "user",
            Some(user_id),
            serde_json::json!({ "skills": skills }),
        )
        .await?;
        commit(tx).await?;
        self.agent_skills(user_id).await
    }

    async fn agent_skills(&self, user_id: i64) -> StoreResult<Vec<AgentSkill>> {
        let rows = sqlx::query::<Db>("SELECT skill, level FROM agent_skills WHERE user_id = $1 ORDER BY skill")
            .bind(user_id)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let level: i16 = get(r, "level")?;
                Ok(AgentSkill {
                    skill: get(r, "skill")?,
                    level: level as u8,
                })
            })
            .collect()
    }

    async fn record_audit(
        &self,
        actor: Actor,
        action: &str,
        entity: &str,
        entity_id: Option<i64>,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        audit(&mut *self.conn().await?, actor, action, entity, entity_id, detail).await
    }

    async fn list_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query::<Db>(
            "SELECT id, at, user_id, action, entity, entity_id, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let detail: String = get(r, "detail")?;
                Ok(AuditEntry {
                    id: get(r, "id")?,
                    at: get(r, "at")?,
                    user_id: get(r, "user_id")?,
                    action: get(r, "action")?,
                    entity: get(r, "entity")?,
                    entity_id: get(r, "entity_id")?,
                    detail: json_col(&detail, "detail")?,
                })
            })
            .collect()
    }
}
