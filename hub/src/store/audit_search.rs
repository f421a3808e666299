//! Searching one organization's audit rows for its admins' viewer: by actor,
//! patient, action, outcome and time, newest first, paged by sequence number.
//!
//! The query text is built from fixed fragments only; every value the caller
//! gives is bound, never spliced in. The `(org_id, seq)` index (migration 0012)
//! serves the ordering and the paging.

use std::collections::HashMap;

use super::{Conn, StoreError, audit::AuditRow};

/// What to look for. Values are checked by the caller (ids are UUIDs, the action
/// a known shape) before they get here.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    pub org_id: &'a str,
    pub actor_id: Option<&'a str>,
    /// Rows about this patient: the target of the action, or named as
    /// `patient_id` in the details.
    pub patient_id: Option<&'a str>,
    /// An exact action (`invite.accept`) or a family (`invite` matches `invite.*`).
    pub action: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// Inclusive lower bound, Unix milliseconds.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound, Unix milliseconds.
    pub to_ms: Option<i64>,
    /// Only rows with a smaller sequence number (the previous page's last row).
    pub before_seq: i64,
    pub limit: i64,
}

/// Escapes `LIKE` wildcards so an action name matches itself (`_` is common in them).
fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn search(conn: &mut Conn, f: &AuditFilter<'_>) -> Result<Vec<AuditRow>, StoreError> {
    let mut sql = String::from(
        "SELECT seq, id, at, actor_id, actor_ip, action, outcome, org_id, target_type, \
         target_id, details, prev_hash, hash FROM audit_log WHERE org_id = $1 AND seq < $2",
    );
    let mut text: Vec<String> = Vec::new();
    let mut numbers: Vec<i64> = Vec::new();
    // Text binds come first ($3…), then numbers; placeholders are numbered as pushed.
    let mut next = 3;
    let mut placeholder = || {
        let p = format!("${next}");
        next += 1;
        p
    };
    if let Some(actor) = f.actor_id {
        sql += &format!(" AND actor_id = {}", placeholder());
        text.push(actor.to_owned());
    }
    if let Some(patient) = f.patient_id {
        let (a, b) = (placeholder(), placeholder());
        sql += &format!(
            " AND ((target_type = 'user' AND target_id = {a}) OR details LIKE {b} ESCAPE '\\')"
        );
        text.push(patient.to_owned());
        text.push(format!("%\"patient_id\":\"{}\"%", like_literal(patient)));
    }
    if let Some(action) = f.action {
        let (a, b) = (placeholder(), placeholder());
        sql += &format!(" AND (action = {a} OR action LIKE {b} ESCAPE '\\')");
        text.push(action.to_owned());
        text.push(format!("{}.%", like_literal(action)));
    }
    if let Some(outcome) = f.outcome {
        sql += &format!(" AND outcome = {}", placeholder());
        text.push(outcome.to_owned());
    }
    if let Some(from) = f.from_ms {
        sql += &format!(" AND at >= {}", placeholder());
        numbers.push(from);
    }
    if let Some(to) = f.to_ms {
        sql += &format!(" AND at < {}", placeholder());
        numbers.push(to);
    }
    sql += &format!(" ORDER BY seq DESC LIMIT {}", placeholder());
    numbers.push(f.limit);
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(f.org_id)
        .bind(f.before_seq);
    for t in text {
        query = query.bind(t);
    }
    for n in numbers {
        query = query.bind(n);
    }
    Ok(query.fetch_all(conn).await?)
}

/// Display names of the given accounts (ids without an account are left out).
pub async fn display_names(
    conn: &mut Conn,
    ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, display_name FROM users WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(conn).await?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn wildcards_match_only_themselves() {
        assert_eq!(
            like_literal("membership.role_change"),
            "membership.role\\_change"
        );
        assert_eq!(like_literal("a%b\\"), "a\\%b\\\\");
    }
}
