// The migrations are embedded at compile time (refinery's embed_migrations!); a new file in
// migrations/ must rebuild this crate, which include_str! alone does not notice.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
