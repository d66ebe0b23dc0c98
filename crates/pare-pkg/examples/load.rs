fn main() {
    let repos = pare_pkg::sources::host_repositories(std::path::Path::new("/")).unwrap();
    let opts = pare_pkg::index::IndexOptions {
        architecture: "amd64".into(),
        root: "/".into(),
        allow_insecure: false,
        cache: pare_pkg::cache::Cache::new("/tmp/pkgcache"),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    };
    let t = std::time::Instant::now();
    let idx = pare_pkg::index::PackageIndex::load(&repos, &opts, &pare_pkg::fetch::Fetcher::new())
        .unwrap();
    println!("{} packages in {:?}", idx.packages.len(), t.elapsed());
    for r in &idx.repositories {
        println!("{} signed by {:?}", r.repository.describe(), r.signed_by);
    }
    for roots in std::env::args().skip(1) {
        let o = pare_pkg::resolve::ResolveOptions {
            roots: roots.split(',').map(str::to_string).collect(),
            exclude: pare_pkg::resolve::ResolveOptions::default_exclusions(),
            recommends: false,
            architecture: "amd64".into(),
        };
        match pare_pkg::resolve::resolve(&idx, &o) {
            Ok(r) => {
                let total: u64 = r.packages.iter().map(|i| idx.get(*i).size).sum();
                println!(
                    "{roots}: {} packages, {} bytes debs",
                    r.packages.len(),
                    total
                );
                for i in &r.packages {
                    let p = idx.get(*i);
                    println!("  {} {} ({})", p.name, p.version, r.why[&p.name]);
                }
                for d in &r.dropped {
                    println!("  dropped {} -> {}: {}", d.package, d.dependency, d.reason);
                }
            }
            Err(e) => println!("{roots}: ERROR {e}"),
        }
    }
}
#[allow(dead_code)]
fn unused() {}
