//! Parsed survey definitions, cached by (slug, version), and each survey's current version and status.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::Survey;
use crate::config::SurveyPaths;
use crate::store::{
    DbConn, StoreError,
    surveys::{self, SurveyStatus},
};

/// Parsed survey definitions by (slug, version); the current version and status are read per request,
/// so a `chorus survey` command takes effect on a running server at once.
#[derive(Default)]
pub struct Surveys {
    parsed: Mutex<HashMap<(String, i32), Arc<Survey>>>,
    /// slug → (current version, open, when read): re-read at most once a second.
    current: Mutex<HashMap<String, (i32, bool, std::time::Instant)>>,
    /// Derived public path → slug, for every stored survey, and when it was read.
    derived: Mutex<(HashMap<String, String>, Option<std::time::Instant>)>,
}

/// How long a survey's current version and status may be served from memory.
const STATUS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl Surveys {
    pub fn version(&self, conn: &mut DbConn, slug: &str, version: i32) -> Result<Option<Arc<Survey>>, StoreError> {
        let key = (slug.to_owned(), version);
        if let Some(s) = self.parsed.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(s.clone()));
        }
        let Some(text) = surveys::definition(conn, slug, version)? else { return Ok(None) };
        // Stored definitions were validated on import; a failure here means the row was altered.
        let survey = Arc::new(Survey::parse(&text).map_err(|e| StoreError::corrupt("survey definition", e))?);
        self.parsed.lock().unwrap_or_else(|p| p.into_inner()).insert(key, survey.clone());
        Ok(Some(survey))
    }

    /// The current version of a survey and whether it is open. A `chorus survey` command on another
    /// process takes effect within a second.
    pub fn current(&self, conn: &mut DbConn, slug: &str) -> Result<Option<(Arc<Survey>, bool)>, StoreError> {
        let cached = self.current.lock().unwrap_or_else(|p| p.into_inner()).get(slug).copied();
        let (version, open) = match cached {
            Some((version, open, at)) if at.elapsed() < STATUS_TTL => (version, open),
            _ => {
                let Some(row) = surveys::get(conn, slug)? else { return Ok(None) };
                let open = row.status == SurveyStatus::Open;
                self.current
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(slug.to_owned(), (row.current_version, open, std::time::Instant::now()));
                (row.current_version, open)
            }
        };
        Ok(self.version(conn, slug, version)?.map(|s| (s, open)))
    }

    /// The slug of the survey whose public address is `/s/{path}`. A survey with a configured path
    /// answers only there; any other at its derived path. Never at its slug (unless that is what the
    /// path derives to, which the config refuses for configured paths). A path seen in the last
    /// second costs no query; an unknown one re-reads the list at most once a second.
    pub fn slug_for_path(
        &self,
        conn: &mut DbConn,
        paths: &SurveyPaths,
        path: &str,
    ) -> Result<Option<String>, StoreError> {
        if let Some(slug) = paths.configured_slug(path) {
            return Ok(Some(slug.to_owned()));
        }
        let mut derived = self.derived.lock().unwrap_or_else(|p| p.into_inner());
        let stale = derived.1.is_none_or(|at| at.elapsed() >= STATUS_TTL);
        if !derived.0.contains_key(path) && stale {
            let map = surveys::list(conn)?.into_iter().map(|r| (SurveyPaths::derived(&r.slug), r.slug)).collect();
            *derived = (map, Some(std::time::Instant::now()));
        }
        Ok(derived.0.get(path).filter(|slug| paths.matches(slug, path)).cloned())
    }

    /// `slug_for_path` from memory alone: None when answering would need the list of surveys, so the
    /// submit path asks the database (off the async worker) only for a path it has not seen.
    pub fn cached_slug_for_path(&self, paths: &SurveyPaths, path: &str) -> Option<Option<String>> {
        if let Some(slug) = paths.configured_slug(path) {
            return Some(Some(slug.to_owned()));
        }
        let derived = self.derived.lock().unwrap_or_else(|p| p.into_inner());
        derived.0.get(path).map(|slug| Some(slug.clone()).filter(|slug| paths.matches(slug, path)))
    }

    /// `current` from memory alone: None when the status is older than a second or the definition was
    /// never parsed here (then `current` reads the database, off the async worker).
    pub fn cached(&self, slug: &str) -> Option<(Arc<Survey>, bool)> {
        let (version, open, at) = self.current.lock().unwrap_or_else(|p| p.into_inner()).get(slug).copied()?;
        if at.elapsed() >= STATUS_TTL {
            return None;
        }
        let parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        // The map is keyed by an owned slug; a lookup by (&str, i32) would need a borrowed key type.
        parsed.iter().find(|((s, v), _)| s == slug && *v == version).map(|(_, survey)| (survey.clone(), open))
    }

    /// Forget cached statuses and versions (after an import in this process, say).
    pub fn forget(&self) {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.derived.lock().unwrap_or_else(|p| p.into_inner()).1 = None;
    }

    /// Open or close a survey; this process sees the change at once, others within a second.
    /// False when there is no such survey.
    pub fn set_status(&self, conn: &mut DbConn, slug: &str, status: SurveyStatus) -> Result<bool, StoreError> {
        let found = surveys::set_status(conn, slug, status)?;
        self.current.lock().unwrap_or_else(|p| p.into_inner()).remove(slug);
        Ok(found)
    }

    pub fn open_surveys(&self, conn: &mut DbConn) -> Result<Vec<Arc<Survey>>, StoreError> {
        let mut out = Vec::new();
        for row in surveys::list(conn)?.into_iter().filter(|r| r.status == SurveyStatus::Open) {
            if let Some(s) = self.version(conn, &row.slug, row.current_version)? {
                out.push(s);
            }
        }
        Ok(out)
    }
}
