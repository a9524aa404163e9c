//! Go binaries' build information (Go 1.18+): the `.go.buildinfo` blob the
//! linker writes, starting with a 14-byte magic, holding the toolchain's
//! version and the module list `go version -m` prints. Found by streaming
//! each executable once, without keeping it.

use std::io::Read;

use super::Package;

pub const MAGIC: &[u8] = b"\xff Go buildinf:";
/// What is kept after the magic: the header and both strings fit in it for
/// any binary (module lists are a few KiB; 1 MiB is far more).
const CAPTURE: usize = 1 << 20;
/// The inline-strings flag (Go 1.18+); older binaries point into the data.
const FLAG_INLINE: u8 = 2;

/// Reads `r` to its end and returns the bytes from the build-info magic
/// on (at most [`CAPTURE`]), if the stream has it.
pub fn capture(mut r: impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let finder = memchr::memmem::Finder::new(MAGIC);
    let mut buf = vec![0u8; 256 << 10];
    // The tail of the previous chunk, so a magic split across reads is found.
    let mut carry: Vec<u8> = Vec::new();
    let mut found: Option<Vec<u8>> = None;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(found);
        }
        if let Some(f) = found.as_mut() {
            if f.len() < CAPTURE {
                let take = (CAPTURE - f.len()).min(n);
                f.extend_from_slice(&buf[..take]);
            }
            continue;
        }
        carry.extend_from_slice(&buf[..n]);
        if let Some(at) = finder.find(&carry) {
            let end = carry.len().min(at + CAPTURE);
            found = Some(carry[at..end].to_vec());
            carry.clear();
        } else {
            let keep = MAGIC.len() - 1;
            if carry.len() > keep {
                carry.drain(..carry.len() - keep);
            }
        }
    }
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn string_at(b: &[u8], at: usize) -> Option<(String, usize)> {
    let (len, n) = uvarint(b.get(at..)?)?;
    let start = at + n;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some((
        String::from_utf8_lossy(b.get(start..end)?).into_owned(),
        end,
    ))
}

/// The toolchain version and the modules of a captured build-info blob,
/// as packages of OSV's Go ecosystem: `stdlib` at the toolchain's version,
/// the main module (unless a development build) and each dependency (a
/// `=>` replacement standing for the module it replaces).
pub fn parse(blob: &[u8]) -> Result<Vec<Package>, String> {
    if blob.len() < 32 || !blob.starts_with(MAGIC) {
        return Err("no Go build information".into());
    }
    if blob[15] & FLAG_INLINE == 0 {
        return Err("not implemented: build information of Go binaries before 1.18".into());
    }
    let (version, next) = string_at(blob, 32).ok_or("build information cut short")?;
    let (modinfo, _) = string_at(blob, next).ok_or("build information cut short")?;
    let mut out = Vec::new();
    let go = version.split_whitespace().next().unwrap_or("");
    if let Some(v) = go.strip_prefix("go") {
        out.push(Package {
            name: "stdlib".into(),
            version: v.to_string(),
            binaries: Vec::new(),
        });
    }
    // The module list sits between two 16-byte sentinels.
    let lines = if modinfo.len() >= 33 {
        modinfo.get(16..modinfo.len() - 16).unwrap_or("")
    } else {
        ""
    };
    for line in lines.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod" | "dep", path, version, ..] if *version != "(devel)" => out.push(Package {
                name: path.to_string(),
                version: version.to_string(),
                binaries: Vec::new(),
            }),
            ["=>", path, version, ..] => {
                if let Some(last) = out.last_mut() {
                    last.name = path.to_string();
                    last.version = version.to_string();
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varstr(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = s.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn blob(version: &str, mods: &str) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.push(8);
        b.push(FLAG_INLINE);
        b.resize(32, 0);
        b.extend(varstr(version));
        let sentinel = "0123456789abcdef";
        b.extend(varstr(&format!("{sentinel}{mods}{sentinel}")));
        b
    }

    #[test]
    fn reads_the_toolchain_and_modules() {
        let mods = "path\tgithub.com/x/cmd\nmod\tgithub.com/x\t(devel)\t\ndep\tgolang.org/x/net\tv0.17.0\th1:abc=\ndep\tgithub.com/old/thing\tv1.0.0\th1:def=\n=>\tgithub.com/new/thing\tv1.2.0\th1:ghi=\nbuild\t-compiler=gc\n";
        let p = parse(&blob("go1.21.3", mods)).unwrap();
        let got: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("stdlib", "1.21.3"),
                ("golang.org/x/net", "v0.17.0"),
                ("github.com/new/thing", "v1.2.0")
            ]
        );
    }

    #[test]
    fn finds_the_magic_across_reads_and_refuses_old_and_short_blobs() {
        let mut data = vec![0u8; (256 << 10) - 5];
        data.extend(blob("go1.22.0", ""));
        data.extend(vec![1u8; 1000]);
        // A reader that hands out small pieces, so the magic spans two reads.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(7000);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let got = capture(Slow(&data)).unwrap().unwrap();
        assert_eq!(parse(&got).unwrap()[0].version, "1.22.0");
        assert!(capture(&b"no magic here"[..]).unwrap().is_none());
        let mut old = blob("go1.17", "");
        old[15] = 0;
        assert!(parse(&old).unwrap_err().contains("not implemented"));
        assert!(parse(MAGIC).is_err());
    }
}
