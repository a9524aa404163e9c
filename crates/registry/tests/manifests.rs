//! Manifest push/fetch/delete for all four media types, validation failures
//! that must store nothing, tags/catalog pagination and referrers.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn oci_and_docker_manifests_round_trip() {
    let reg = start().await;
    for (repo, mt) in [("oci/img", OCI_MANIFEST), ("docker/img", DOCKER_MANIFEST)] {
        let (bytes, md, _) = reg.push_image(repo, "v1", mt, repo).await;
        for reference in ["v1".to_string(), md.clone()] {
            let r = reg.get(&format!("/v2/{repo}/manifests/{reference}")).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body, bytes, "stored bytes come back unchanged");
            assert_eq!(r.header("Content-Type").as_deref(), Some(mt));
            assert_eq!(r.header("Docker-Content-Digest"), Some(md.clone()));
            let r = reg
                .req(
                    "HEAD",
                    &format!("/v2/{repo}/manifests/{reference}"),
                    &[],
                    vec![],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("Content-Length"), Some(bytes.len().to_string()));
            assert!(r.body.is_empty());
        }
        // Manifests are fetchable through the blob endpoint too.
        assert_eq!(reg.get(&format!("/v2/{repo}/blobs/{md}")).await.body, bytes);
    }

    // Index / manifest list over the pushed manifest.
    let child = reg.get("/v2/oci/img/manifests/v1").await;
    let md = child.header("Docker-Content-Digest").unwrap();
    for (tag, mt, child_mt) in [
        ("idx", OCI_INDEX, OCI_MANIFEST),
        ("list", DOCKER_LIST, OCI_MANIFEST),
    ] {
        let index = json!({
            "schemaVersion": 2, "mediaType": mt,
            "manifests": [{"mediaType": child_mt, "digest": md, "size": child.body.len(),
                           "platform": {"architecture": "amd64", "os": "linux"}}]
        })
        .to_string();
        let r = reg.put_manifest("oci/img", tag, mt, index.as_bytes()).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let d = digest(index.as_bytes());
        assert_eq!(
            r.header("Location"),
            Some(format!("/v2/oci/img/manifests/{d}"))
        );
        let r = reg.get(&format!("/v2/oci/img/manifests/{tag}")).await;
        assert_eq!(r.header("Content-Type").as_deref(), Some(mt));
        assert_eq!(r.body, index.as_bytes());
    }

    // Push by digest.
    let (bytes, md2, _) = reg.push_image("bydigest", "tmp", OCI_MANIFEST, "d").await;
    let r = reg
        .put_manifest("bydigest", &md2, OCI_MANIFEST, &bytes)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Delete by tag removes only the tag; by digest removes the manifest.
    let r = reg
        .req("DELETE", "/v2/docker/img/manifests/v1", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = reg.get("/v2/docker/img/manifests/v1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "MANIFEST_UNKNOWN");
    let r = reg
        .req(
            "DELETE",
            &format!("/v2/bydigest/manifests/{md2}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        reg.get(&format!("/v2/bydigest/manifests/{md2}"))
            .await
            .code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        reg.get("/v2/bydigest/manifests/tmp").await.code(),
        "MANIFEST_UNKNOWN"
    );
    let tags = reg.get("/v2/bydigest/tags/list").await.json();
    assert_eq!(tags["tags"], json!([]));
    reg.stop().await;
}

#[tokio::test]
async fn invalid_manifests_store_nothing() {
    let reg = start().await;
    let cd = reg.push_blob("r", b"{}").await;
    let missing = digest(b"not uploaded");
    let blobs_before = reg.blob_files();

    let bad_json = reg.put_manifest("r", "t", OCI_MANIFEST, b"{not json").await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_json.code(), "MANIFEST_INVALID");

    let no_layers = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2}}).to_string();
    assert_eq!(
        reg.put_manifest("r", "t", OCI_MANIFEST, no_layers.as_bytes())
            .await
            .code(),
        "MANIFEST_INVALID"
    );

    let type_clash = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "x", "digest": cd, "size": 2}, "layers": []})
    .to_string();
    assert_eq!(
        reg.put_manifest("r", "t", OCI_MANIFEST, type_clash.as_bytes())
            .await
            .code(),
        "MANIFEST_INVALID"
    );

    let missing_layer = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": missing, "size": 12}]}).to_string();
    let r = reg
        .put_manifest("r", "t", OCI_MANIFEST, missing_layer.as_bytes())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], json!(missing));

    let missing_config = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": missing, "size": 2},
        "layers": []}).to_string();
    assert_eq!(
        reg.put_manifest("r", "t", OCI_MANIFEST, missing_config.as_bytes())
            .await
            .code(),
        "MANIFEST_BLOB_UNKNOWN"
    );

    let missing_child = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 5}]})
    .to_string();
    assert_eq!(
        reg.put_manifest("r", "t", OCI_INDEX, missing_child.as_bytes())
            .await
            .code(),
        "MANIFEST_BLOB_UNKNOWN"
    );

    // A blob of another repository does not count.
    let foreign = reg.push_blob("elsewhere", b"foreign layer").await;
    let other_repo = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": foreign, "size": 13}]}).to_string();
    assert_eq!(
        reg.put_manifest("r", "t", OCI_MANIFEST, other_repo.as_bytes())
            .await
            .code(),
        "MANIFEST_BLOB_UNKNOWN"
    );

    let good = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
        "layers": []}).to_string();
    let wrong_digest = digest(b"other");
    let r = reg
        .put_manifest("r", &wrong_digest, OCI_MANIFEST, good.as_bytes())
        .await;
    assert_eq!(r.code(), "DIGEST_INVALID");
    let r = reg
        .put_manifest("r", "t", "application/x-unknown", good.as_bytes())
        .await;
    assert_eq!(r.code(), "MANIFEST_INVALID");
    let r = reg
        .put_manifest("r", ".badtag", OCI_MANIFEST, good.as_bytes())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Oversize: refused by Content-Length before reading, 413 SIZE_INVALID.
    let mut huge = good.clone().into_bytes();
    huge.truncate(huge.len() - 1);
    huge.extend(
        format!(
            ",\"annotations\":{{\"pad\":\"{}\"}}}}",
            "x".repeat(5 * 1024 * 1024)
        )
        .into_bytes(),
    );
    let r = reg.put_manifest("r", "t", OCI_MANIFEST, &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "SIZE_INVALID");

    assert_eq!(
        reg.blob_files().len(),
        blobs_before.len() + 1,
        "only the foreign blob was added"
    );
    assert_eq!(reg.get("/v2/r/tags/list").await.json()["tags"], json!([]));
    assert!(!reg.root().join("repositories/r/_manifests").exists());

    // Still serving, and the valid manifest goes in.
    let r = reg
        .put_manifest("r", "t", OCI_MANIFEST, good.as_bytes())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    reg.stop().await;
}

#[tokio::test]
async fn oversize_manifest_streamed_without_length() {
    let reg = start_with(|c, _| c.max_manifest_size = 1000).await;
    // Chunked transfer: no Content-Length, so the limit applies while reading.
    let body = format!("{{\"pad\":\"{}\"}}", "y".repeat(5000));
    let req = format!(
        "PUT /v2/r/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let out = reg.raw(req.as_bytes(), false).await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(out.contains("SIZE_INVALID"));
    reg.stop().await;
}

#[tokio::test]
async fn tags_and_catalog_paginate() {
    let reg = start().await;
    let (bytes, _, _) = reg.push_image("pag/a", "t0", OCI_MANIFEST, "p").await;
    for t in ["t1", "t2", "t3", "t4"] {
        assert_eq!(
            reg.put_manifest("pag/a", t, OCI_MANIFEST, &bytes)
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let r = reg.get("/v2/pag/a/tags/list").await;
    assert_eq!(
        r.json(),
        json!({"name": "pag/a", "tags": ["t0", "t1", "t2", "t3", "t4"]})
    );
    assert!(r.header("Link").is_none());

    let r = reg.get("/v2/pag/a/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], json!(["t0", "t1"]));
    let link = r.header("Link").unwrap();
    assert_eq!(link, "</v2/pag/a/tags/list?n=2&last=t1>; rel=\"next\"");
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let r = reg.get(&next).await;
    assert_eq!(r.json()["tags"], json!(["t2", "t3"]));
    let r = reg.get("/v2/pag/a/tags/list?n=2&last=t3").await;
    assert_eq!(r.json()["tags"], json!(["t4"]));
    assert!(r.header("Link").is_none());

    let r = reg.get("/v2/nope/tags/list").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "NAME_UNKNOWN");

    reg.push_image("pag/b", "x", OCI_MANIFEST, "b").await;
    reg.push_image("c", "x", OCI_MANIFEST, "c").await;
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(r.json(), json!({"repositories": ["c", "pag/a", "pag/b"]}));
    let r = reg.get("/v2/_catalog?n=1&last=c").await;
    assert_eq!(r.json()["repositories"], json!(["pag/a"]));
    assert_eq!(
        r.header("Link").as_deref(),
        Some("</v2/_catalog?n=1&last=pag/a>; rel=\"next\"")
    );
    reg.stop().await;
}

#[tokio::test]
async fn referrers() {
    let reg = start().await;
    let (subject_bytes, subject, _) = reg.push_image("app", "v1", OCI_MANIFEST, "s").await;
    let empty = reg.push_blob("app", b"{}").await;
    let mut pushed = Vec::new();
    for (i, at) in [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
    ]
    .iter()
    .enumerate()
    {
        let m = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": at,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"n": i.to_string()},
        })
        .to_string();
        let d = digest(m.as_bytes());
        let r = reg
            .put_manifest("app", &d, OCI_MANIFEST, m.as_bytes())
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("OCI-Subject"), Some(subject.clone()));
        pushed.push((d, m.len(), at.to_string()));
    }
    let r = reg.get(&format!("/v2/app/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("Content-Type").as_deref(), Some(OCI_INDEX));
    let idx = r.json();
    assert_eq!(idx["mediaType"], OCI_INDEX);
    let mut got: Vec<(String, usize, String)> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["digest"].as_str().unwrap().to_string(),
                m["size"].as_u64().unwrap() as usize,
                m["artifactType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    pushed.sort();
    assert_eq!(got, pushed);

    let r = reg
        .get(&format!(
            "/v2/app/referrers/{subject}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(
        r.header("OCI-Filters-Applied").as_deref(),
        Some("artifactType")
    );
    let m = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(m[0]["annotations"]["n"], "1");

    let r = reg
        .get(&format!("/v2/app/referrers/{}", digest(b"none")))
        .await;
    assert_eq!(r.json()["manifests"], json!([]));
    reg.stop().await;
}
