//! Link `berth-shim` as a position-dependent executable. A PIE's pointers in
//! read-only data (vtables, string tables: ~17,000 of them here) are
//! relocated at every start, which copies those pages into each process;
//! with one shim per running container that is ~340 KB of private memory
//! each. At a fixed address they stay clean pages of the file, shared by
//! every shim. The code is still compiled position-independent, which a
//! fixed-address executable runs unchanged.
fn main() {
    println!("cargo:rustc-link-arg-bin=berth-shim=-no-pie");
    // berth-runtime runs three times per container (create, start, delete)
    // and for each exec: at a fixed address it relocates nothing at start.
    println!("cargo:rustc-link-arg-bin=berth-runtime=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
