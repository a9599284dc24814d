//! Who may do what on the event's web pages and API (`banc serve --event`): an access token per
//! person — a participant (its instances only), a monitor (the worklist, decisions) or a
//! manager (everything, scores' publication) — given by `banc event access`. A token has 256
//! bits from the system's random source and is kept as its sha256 only (a copy of the database
//! does not give access); it can be revoked. A browser exchanges it once for a session (cookie)
//! with its own CSRF token. Every grant, revocation and publication is in the audit log.

use super::Error;
use super::store::{self, Store};
use crate::clock::Utc;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How long a browser session lasts.
pub const SESSION_SECS: i64 = 12 * 3600;

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and plays its own instances only.
    Participant,
    /// Sees every instance, claims and decides.
    Monitor,
    /// Sees everything, publishes the scores, exports bundles.
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Participant => "participant",
            Role::Monitor => "monitor",
            Role::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "participant" => Some(Role::Participant),
            "monitor" => Some(Role::Monitor),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            Role::Participant => "participant",
            Role::Monitor => "moniteur",
            Role::Manager => "gestionnaire",
        }
    }
}

/// A person with access: their role and who they are (a participant's id, a monitor's or a
/// manager's name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Who {
    pub role: Role,
    pub subject: String,
    /// The access row (sessions hang on it).
    #[serde(skip)]
    pub access: i64,
}

impl Who {
    /// The name written in the audit log.
    pub fn actor(&self) -> String {
        match self.role {
            Role::Participant => format!("participant {}", self.subject),
            Role::Monitor => self.subject.clone(),
            Role::Manager => self.subject.clone(),
        }
    }

    /// May this person see the instance of `participant`?
    pub fn sees(&self, participant: &str) -> bool {
        self.role != Role::Participant || self.subject == participant
    }
}

/// A fresh secret: 32 bytes from the system's random source, in hex.
pub fn secret() -> Result<String, Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Io(format!("aléa du système : {e}")))?;
    Ok(hex::encode(b))
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A token of the right form (64 hex digits): anything else is not looked up.
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Give `subject` access with `role`: a new token (returned once, kept hashed). A
/// participant must be registered; a name must not be empty.
pub fn grant(store: &mut Store, role: Role, subject: &str, by: &str) -> Result<String, Error> {
    check_subject(store, role, subject)?;
    let token = secret()?;
    let h = hash(&token);
    store.write(|tx| {
        tx.execute(
            "INSERT INTO access (token_hash, role, subject, created, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![h, role.as_str(), subject, Utc::now().rfc3339(), by],
        )?;
        let id = tx.last_insert_rowid();
        store::audit(
            tx,
            by,
            &format!("accès {} {subject}", role.as_str()),
            "accès donné",
            None,
            Some(&format!("jeton n° {id}")),
            None,
        )
    })?;
    Ok(token)
}

/// Revoke every token of `subject` in `role` (and their sessions); how many.
pub fn revoke(store: &mut Store, role: Role, subject: &str, by: &str) -> Result<usize, Error> {
    check_subject(store, role, subject)?;
    store.write(|tx| {
        let ids: Vec<i64> = {
            let mut q = tx.prepare(
                "SELECT id FROM access WHERE role = ?1 AND subject = ?2 AND revoked IS NULL",
            )?;
            q.query_map(params![role.as_str(), subject], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let now = Utc::now().rfc3339();
        for id in &ids {
            tx.execute(
                "UPDATE access SET revoked = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            tx.execute("DELETE FROM sessions WHERE access = ?1", [id])?;
            store::audit(
                tx,
                by,
                &format!("accès {} {subject}", role.as_str()),
                "accès révoqué",
                Some(&format!("jeton n° {id}")),
                None,
                None,
            )?;
        }
        Ok(ids.len())
    })
}

fn check_subject(store: &Store, role: Role, subject: &str) -> Result<(), Error> {
    if subject.trim().is_empty() {
        return Err(Error::Invalid(format!(
            "{} : un nom est attendu",
            role.label_fr()
        )));
    }
    if role == Role::Participant
        && !super::participants(store.conn())?
            .iter()
            .any(|p| p.id == subject)
    {
        return Err(Error::Invalid(format!(
            "participant inconnu de l'événement : {subject}"
        )));
    }
    Ok(())
}

/// The person a token gives access to (None: unknown, revoked or malformed).
pub fn resolve(conn: &rusqlite::Connection, token: &str) -> Result<Option<Who>, Error> {
    if !well_formed(token) {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT id, role, subject FROM access WHERE token_hash = ?1 AND revoked IS NULL",
            [hash(token)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?
        .and_then(|(access, role, subject)| {
            Some(Who {
                role: Role::parse(&role)?,
                subject,
                access,
            })
        }))
}

/// A browser session: who, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    pub csrf: String,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Exchange a token for a session: (session id for the cookie, the session). Expired sessions
/// are cleared on the way.
pub fn login(store: &mut Store, token: &str) -> Result<Option<(String, Session)>, Error> {
    let Some(who) = resolve(store.conn(), token)? else {
        return Ok(None);
    };
    let sid = secret()?;
    let csrf = secret()?;
    let now = now_secs();
    store.write(|tx| {
        tx.execute("DELETE FROM sessions WHERE expires < ?1", [now])?;
        tx.execute(
            "INSERT INTO sessions (id_hash, access, csrf, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash(&sid), who.access, csrf, Utc::now().rfc3339(), now + SESSION_SECS],
        )?;
        Ok(())
    })?;
    Ok(Some((sid, Session { who, csrf })))
}

/// The session of a cookie (None: unknown, expired, or its access revoked).
pub fn session(conn: &rusqlite::Connection, sid: &str) -> Result<Option<Session>, Error> {
    if !well_formed(sid) {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT a.id, a.role, a.subject, s.csrf FROM sessions s JOIN access a ON a.id = s.access
             WHERE s.id_hash = ?1 AND s.expires >= ?2 AND a.revoked IS NULL",
            params![hash(sid), now_secs()],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?
        .and_then(|(access, role, subject, csrf)| {
            Some(Session {
                who: Who {
                    role: Role::parse(&role)?,
                    subject,
                    access,
                },
                csrf,
            })
        }))
}

/// End a session (log out).
pub fn logout(store: &mut Store, sid: &str) -> Result<(), Error> {
    store.write(|tx| {
        tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [hash(sid)])?;
        Ok(())
    })
}

/// One access, as listed (never the token).
#[derive(Debug, Clone, Serialize)]
pub struct AccessRow {
    pub id: i64,
    pub role: Role,
    pub subject: String,
    pub created: String,
    pub created_by: String,
    pub revoked: Option<String>,
}

pub fn list(conn: &rusqlite::Connection) -> Result<Vec<AccessRow>, Error> {
    let mut st = conn.prepare(
        "SELECT id, role, subject, created, created_by, revoked FROM access ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, role, subject, created, created_by, revoked) = row?;
        if let Some(role) = Role::parse(&role) {
            out.push(AccessRow {
                id,
                role,
                subject,
                created,
                created_by,
                revoked,
            });
        }
    }
    Ok(out)
}

/// Are the scores published (the public scoreboard shown)?
pub fn published(store: &Store) -> Result<bool, Error> {
    Ok(store.meta("scores_published")?.as_deref() == Some("true"))
}

/// Publish the scores or withdraw them, in the audit log.
pub fn set_published(store: &mut Store, publish: bool, by: &str) -> Result<(), Error> {
    let before = published(store)?;
    if before == publish {
        return Ok(());
    }
    store.write(|tx| {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('scores_published', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [publish.to_string()],
        )?;
        store::audit(
            tx,
            by,
            "notes",
            if publish { "publication" } else { "retrait" },
            Some(if before { "publiées" } else { "non publiées" }),
            Some(if publish {
                "publiées"
            } else {
                "non publiées"
            }),
            None,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_token_is_not_looked_up() {
        assert!(!well_formed("abc"));
        assert!(!well_formed(&"g".repeat(64)));
        assert!(well_formed(&"a".repeat(64)));
        let s = secret().unwrap();
        assert!(well_formed(&s));
        assert_ne!(s, secret().unwrap());
        assert_eq!(hash(&s).len(), 64);
        assert_ne!(hash(&s), s);
    }
}
