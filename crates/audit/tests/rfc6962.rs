//! The Merkle tree against independent RFC 6962 vectors (written by `vectors/make_vectors.py`
//! with hashlib only, from the RFC's definitions of MTH, PATH and PROOF), byte for byte, plus
//! property tests of proof verification.

use proptest::prelude::*;
use serde::Deserialize;
use tessera_audit::{
    Hash, ProofError, TreeBuilder, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};

#[derive(Deserialize)]
struct Vectors {
    leaves: Vec<String>,
    leaf_hashes: Vec<String>,
    roots: Vec<RootVector>,
    inclusion: Vec<InclusionVector>,
    consistency: Vec<ConsistencyVector>,
}

#[derive(Deserialize)]
struct RootVector {
    n: usize,
    root: String,
}

#[derive(Deserialize)]
struct InclusionVector {
    index: u64,
    n: usize,
    path: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyVector {
    m: u64,
    n: usize,
    proof: Vec<String>,
}

fn vectors() -> Vectors {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/vectors.json"))
        .expect("vectors.json is committed");
    serde_json::from_str(&text).expect("vectors.json parses")
}

fn unhex(s: &str) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).expect("64 hex digits");
    h
}

fn leaves(v: &Vectors) -> Vec<Hash> {
    v.leaves.iter().map(|l| leaf_hash(l.as_bytes())).collect()
}

#[test]
fn leaf_hashes_match_the_reference() {
    let v = vectors();
    assert_eq!(v.leaves.len(), 64);
    for (l, h) in leaves(&v).iter().zip(&v.leaf_hashes) {
        assert_eq!(hex::encode(l), *h);
    }
}

#[test]
fn roots_for_every_size_up_to_64_match_the_reference_and_the_builder() {
    let v = vectors();
    let l = leaves(&v);
    assert_eq!(v.roots.len(), 65);
    let mut b = TreeBuilder::new();
    for r in &v.roots {
        assert_eq!(hex::encode(root(&l[..r.n])), r.root, "n = {}", r.n);
        assert_eq!(hex::encode(b.root()), r.root, "builder at n = {}", r.n);
        if r.n < l.len() {
            b.push(l[r.n]);
        }
    }
}

#[test]
fn inclusion_proofs_match_the_reference_byte_for_byte_and_verify() {
    let v = vectors();
    let l = leaves(&v);
    assert_eq!(v.inclusion.len(), 32 * 33 / 2);
    for t in &v.inclusion {
        let proof = inclusion_proof(&l[..t.n], t.index).unwrap();
        let expected: Vec<Hash> = t.path.iter().map(|h| unhex(h)).collect();
        assert_eq!(proof, expected, "index {} n {}", t.index, t.n);
        let r = root(&l[..t.n]);
        verify_inclusion(&l[t.index as usize], t.index, t.n as u64, &expected, &r).unwrap();
    }
}

#[test]
fn consistency_proofs_match_the_reference_byte_for_byte_and_verify() {
    let v = vectors();
    let l = leaves(&v);
    assert_eq!(v.consistency.len(), 32 * 33 / 2);
    for t in &v.consistency {
        let proof = consistency_proof(&l[..t.n], t.m).unwrap();
        let expected: Vec<Hash> = t.proof.iter().map(|h| unhex(h)).collect();
        assert_eq!(proof, expected, "m {} n {}", t.m, t.n);
        let (r1, r2) = (root(&l[..t.m as usize]), root(&l[..t.n]));
        verify_consistency(t.m, t.n as u64, &r1, &r2, &expected).unwrap();
    }
}

fn test_leaves(n: usize) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("event-{i}").as_bytes())).collect()
}

#[test]
fn every_consistency_proof_up_to_64_verifies_and_a_wrong_size_or_root_fails() {
    let l = test_leaves(64);
    for n in 1..=64usize {
        let rn = root(&l[..n]);
        for m in 1..=n {
            let rm = root(&l[..m]);
            let p = consistency_proof(&l[..n], m as u64).unwrap();
            verify_consistency(m as u64, n as u64, &rm, &rn, &p).unwrap();
            // The same proof claimed for another pair of sizes, or another old root, fails.
            if m < n {
                assert!(verify_consistency(m as u64 + 1, n as u64, &root(&l[..m + 1]), &rn, &p).is_err());
                assert!(verify_consistency(m as u64, n as u64, &rn, &rn, &p).is_err());
            }
            if n < 64 {
                assert!(verify_consistency(m as u64, n as u64 + 1, &rm, &root(&l[..n + 1]), &p).is_err());
            }
            if m > 1 {
                let rm1 = root(&l[..m - 1]);
                assert!(verify_consistency(m as u64 - 1, n as u64, &rm1, &rn, &p).is_err());
            }
        }
    }
}

#[test]
fn every_inclusion_proof_up_to_64_verifies_and_fails_for_another_leaf_index_or_size() {
    let l = test_leaves(65);
    for n in 1..=64usize {
        let r = root(&l[..n]);
        for i in 0..n {
            let p = inclusion_proof(&l[..n], i as u64).unwrap();
            verify_inclusion(&l[i], i as u64, n as u64, &p, &r).unwrap();
            assert!(verify_inclusion(&l[64], i as u64, n as u64, &p, &r).is_err(), "wrong leaf");
            if n > 1 {
                let j = (i + 1) % n;
                assert!(verify_inclusion(&l[i], j as u64, n as u64, &p, &r).is_err(), "wrong index {i}->{j} n {n}");
            }
            let r1 = root(&l[..n + 1]);
            assert!(verify_inclusion(&l[i], i as u64, n as u64 + 1, &p, &r1).is_err(), "wrong size");
        }
        assert_eq!(
            verify_inclusion(&l[0], n as u64, n as u64, &[], &r),
            Err(ProofError::IndexOutOfRange { index: n as u64, size: n as u64 })
        );
    }
}

proptest! {
    #[test]
    fn inclusion_proofs_verify_and_wrong_claims_fail(n in 1usize..300, seed in any::<u64>(), flip in any::<usize>()) {
        let l: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("{seed}-{i}").as_bytes())).collect();
        let r = root(&l);
        let i = (seed % n as u64) as usize;
        let p = inclusion_proof(&l, i as u64).unwrap();
        prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &r).is_ok());
        prop_assert!(verify_inclusion(&leaf_hash(b"other"), i as u64, n as u64, &p, &r).is_err());
        if n > 1 {
            let j = (i + 1 + flip % (n - 1)) % n;
            prop_assert!(verify_inclusion(&l[i], j as u64, n as u64, &p, &r).is_err());
        }
        // A proof does not bind the size by itself (leaf 0 has the same path shape in every
        // tree of 129 to 256 leaves); the signed checkpoint binds size and root together, so
        // the claim to test is the proof against another size *and its root*.
        let wrong_size = 1 + (flip % 600);
        if wrong_size != n && i < wrong_size {
            let other: Vec<Hash> = (0..wrong_size).map(|k| leaf_hash(format!("{seed}-{k}").as_bytes())).collect();
            prop_assert!(verify_inclusion(&l[i], i as u64, wrong_size as u64, &p, &root(&other)).is_err());
        }
        if !p.is_empty() {
            let mut bad = p.clone();
            let k = flip % bad.len();
            bad[k][flip % 32] ^= 1;
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &bad, &r).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_a_changed_hash_fails(n in 1usize..300, m_seed in any::<usize>(), flip in any::<usize>()) {
        let l: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("x-{i}").as_bytes())).collect();
        let m = 1 + m_seed % n;
        let p = consistency_proof(&l, m as u64).unwrap();
        let (rm, rn) = (root(&l[..m]), root(&l));
        prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &p).is_ok());
        if !p.is_empty() {
            let mut bad = p.clone();
            let k = flip % bad.len();
            bad[k][flip % 32] ^= 0x80;
            prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &bad).is_err());
        }
        // A log that rewrote any of the first m leaves is not consistent with the old root.
        let mut rewritten = l.clone();
        rewritten[flip % m] = leaf_hash(b"rewritten");
        let p2 = consistency_proof(&rewritten, m as u64).unwrap();
        prop_assert!(verify_consistency(m as u64, n as u64, &rm, &root(&rewritten), &p2).is_err());
    }
}
