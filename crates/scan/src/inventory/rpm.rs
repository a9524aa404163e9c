//! rpm's sqlite package database (`rpmdb.sqlite`, rpm ≥ 4.16: Fedora 33+,
//! RHEL/Rocky/AlmaLinux 9, openSUSE Tumbleweed): every installed package is
//! one row of the `Packages` table holding its header (see [`super::rpmheader`]).
//!
//! The database is image content, so it is opened as a copy in a private
//! temporary directory (sqlite needs a file to replay a write-ahead log that
//! the image may ship beside it) with sqlite's defensive settings, and only
//! that one table is read. A damaged file or row costs a warning, never the scan.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, config::DbConfig};

use super::Package;
use super::rpmheader;

/// rpm's pseudo-packages for imported signing keys: not software.
const GPG_PUBKEY: &str = "gpg-pubkey";

#[derive(Debug, thiserror::Error)]
enum RpmDbError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn open(db: &[u8], wal: Option<&[u8]>, dir: &Path) -> Result<Connection, RpmDbError> {
    let path = dir.join("rpmdb.sqlite");
    std::fs::write(&path, db)?;
    if let Some(wal) = wal {
        std::fs::write(dir.join("rpmdb.sqlite-wal"), wal)?;
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // No schema-defined functions, views or triggers run, and writes that
    // could corrupt the file are refused: the schema is untrusted.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.pragma_update(None, "cell_size_check", true)?;
    Ok(conn)
}

/// Reads the packages of the database `db` (with its write-ahead log, if
/// the image has one) into `out`.
pub fn parse(
    name: &str,
    db: &[u8],
    wal: Option<&[u8]>,
    out: &mut Vec<Package>,
    warnings: &mut Vec<String>,
) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            warnings.push(format!("{name}: not read: a temporary directory: {e}"));
            return;
        }
    };
    let rows = open(db, wal, dir.path()).and_then(|conn| {
        let mut stmt = conn.prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    });
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            warnings.push(format!("{name}: not read as an rpm database: {e}"));
            return;
        }
    };
    let mut bad = Vec::new();
    for (hnum, blob) in rows {
        match rpmheader::parse(&blob) {
            Ok(h) if h.name == GPG_PUBKEY => {}
            // OSV's rpm ecosystems name binary packages, so no source grouping.
            Ok(h) => out.push(Package {
                version: h.evr(),
                binaries: Vec::new(),
                name: h.name,
            }),
            Err(e) => bad.push(format!("#{hnum} ({e})")),
        }
    }
    if !bad.is_empty() {
        warnings.push(format!(
            "{name}: {} damaged package headers skipped: {}",
            bad.len(),
            bad.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::rpmheader::tests::header;

    fn db_with(blobs: &[Vec<u8>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL);",
        )
        .unwrap();
        for b in blobs {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
                .unwrap();
        }
        drop(conn);
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn packages_by_binary_name_with_epoch_and_damaged_rows() {
        let db = db_with(&[
            header(
                &[(1000, "openssl-libs"), (1001, "3.0.7"), (1002, "27.el9")],
                Some(1),
            ),
            header(&[(1000, "gpg-pubkey"), (1001, "abc"), (1002, "1")], None),
            b"junk".to_vec(),
            header(&[(1000, "bash"), (1001, "5.1.8"), (1002, "9.el9")], None),
        ]);
        let (mut out, mut w) = (Vec::new(), Vec::new());
        parse("rpmdb.sqlite", &db, None, &mut out, &mut w);
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [("openssl-libs", "1:3.0.7-27.el9"), ("bash", "5.1.8-9.el9")]
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("1 damaged package headers skipped: #3"),
            "{w:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_warning() {
        let (mut out, mut w) = (Vec::new(), Vec::new());
        parse("rpmdb.sqlite", b"not a database", None, &mut out, &mut w);
        assert!(out.is_empty());
        assert!(w[0].contains("not read as an rpm database"), "{w:?}");
        let mut half = db_with(&[header(&[(1000, "a"), (1001, "1"), (1002, "1")], None)]);
        half.truncate(half.len() / 2);
        let (mut out, mut w) = (Vec::new(), Vec::new());
        parse("rpmdb.sqlite", &half, None, &mut out, &mut w);
        assert!(out.is_empty() && !w.is_empty(), "{out:?} {w:?}");
    }
}
