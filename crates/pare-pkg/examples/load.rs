fn main() {
    let repos = pare_pkg::sources::host_repositories(std::path::Path::new("/")).unwrap();
    let opts = pare_pkg::index::IndexOptions {
        architecture: "amd64".into(),
        root: "/".into(),
        allow_insecure: false,
        cache: pare_pkg::cache::Cache::new("/tmp/pkgcache"),
        now: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
    };
    let t = std::time::Instant::now();
    let idx = pare_pkg::index::PackageIndex::load(&repos, &opts, &pare_pkg::fetch::Fetcher::new()).unwrap();
    println!("{} packages in {:?}", idx.packages.len(), t.elapsed());
    for r in &idx.repositories { println!("{} signed by {:?}", r.repository.describe(), r.signed_by); }
}
