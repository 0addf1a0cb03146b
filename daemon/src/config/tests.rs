use std::path::Path;

use super::*;

const EXAMPLE: &str = include_str!("../../../config/sitebox.example.toml");

fn problems(source: &str) -> Vec<Problem> {
    match Config::parse(Path::new("/etc/sitebox/sitebox.toml"), source) {
        Ok(config) => panic!("accepted a bad config: {config:?}"),
        Err(err) => {
            assert_eq!(err.file, Path::new("/etc/sitebox/sitebox.toml"));
            err.problems
        }
    }
}

#[test]
fn the_example_and_the_embedded_defaults_are_valid() {
    let example = Config::parse(Path::new("example"), EXAMPLE).expect("example config");
    assert_eq!(example.site.site, "kibera-01");
    assert_eq!(example.store.synchronous, Synchronous::Full);
    assert_eq!(example.queue.settings("provisioning").concurrency, 4);
    let dev = Config::dev().expect("dev config");
    assert_eq!(
        dev.store.database_path(),
        Path::new("target/sitebox-dev/sitebox.db")
    );
}

#[test]
fn the_example_documents_every_default() {
    // Keys left out of a file take the same values the example shows.
    let minimal = Config::parse(
        Path::new("minimal"),
        "[site]\ntenant = \"acme-isp\"\nsite = \"kibera-01\"\nname = \"Kibera market\"\n",
    )
    .expect("minimal config");
    let example = Config::parse(Path::new("example"), EXAMPLE).expect("example config");
    assert_eq!(
        format!("{:?}", minimal.store),
        format!("{:?}", example.store)
    );
    assert_eq!(format!("{:?}", minimal.log), format!("{:?}", example.log));
    assert_eq!(
        format!("{:?}", minimal.provisioning),
        format!("{:?}", example.provisioning)
    );
    assert_eq!(
        format!("{:?}", minimal.simulator),
        format!("{:?}", example.simulator)
    );
    assert_eq!(
        format!("{:?}", minimal.daemon),
        format!("{:?}", example.daemon)
    );
    assert_eq!(format!("{:?}", minimal.web), format!("{:?}", example.web));
    let mut example_queue = example.queue.clone();
    example_queue.queues.clear();
    assert_eq!(format!("{:?}", minimal.queue), format!("{example_queue:?}"));
    for queue in QUEUE_NAMES {
        assert_eq!(
            minimal.queue.settings(queue).concurrency,
            example.queue.settings(queue).concurrency,
            "{queue}"
        );
    }
}

#[test]
fn a_wrong_type_names_line_and_key() {
    let found = problems("[site]\ntenant = \"a\"\nsite = \"b\"\n\n[store]\nreaders = \"four\"\n");
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].key.as_str()), (6, "store.readers"));
    assert!(
        found[0].message.contains("\"four\", expected u32"),
        "{}",
        found[0].message
    );
}

#[test]
fn an_unknown_key_names_line_and_key() {
    let found = problems("[site]\ntenant = \"a\"\nsite = \"b\"\n[queue]\nleese = \"30s\"\n");
    assert_eq!(found[0].line, 5);
    assert!(found[0].key.starts_with("queue"), "{:?}", found[0]);
    assert!(found[0].message.contains("leese"), "{}", found[0].message);
}

#[test]
fn a_bad_duration_names_line_and_key() {
    let found = problems(
        "[site]\ntenant = \"a\"\nsite = \"b\"\n[daemon]\nshutdown_grace = \"10 seconds\"\n",
    );
    assert_eq!(
        (found[0].line, found[0].key.as_str()),
        (5, "daemon.shutdown_grace")
    );
    assert!(
        found[0].message.contains("10 seconds"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_missing_required_key_is_named() {
    let found = problems("[site]\ntenant = \"a\"\n");
    assert!(found[0].message.contains("site"), "{:?}", found[0]);
}

#[test]
fn a_syntax_error_names_the_line() {
    let found = problems("[site]\ntenant = \"a\"\nsite = \"b\n");
    assert_eq!(found[0].line, 3, "{:?}", found[0]);
}

#[test]
fn validation_reports_every_problem_with_its_line() {
    let source = "[site]\ntenant = \"Acme ISP\"\nsite = \"s/1\"\n\n[store]\nreaders = 0\n\n\
                  [queue]\nbackoff_base = \"1m\"\nbackoff_max = \"10s\"\n\n\
                  [queue.queues.paymints]\nconcurrency = 1\n\n[queue.queues.sync]\nconcurrency = 0\n";
    let found: Vec<(usize, String)> = problems(source)
        .into_iter()
        .map(|p| (p.line, p.key))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, "site.tenant".to_string()),
            (3, "site.site".to_string()),
            (6, "store.readers".to_string()),
            (10, "queue.backoff_max".to_string()),
            (12, "queue.queues.paymints".to_string()),
            (16, "queue.queues.sync.concurrency".to_string()),
        ]
    );
}

#[test]
fn the_error_text_reads_file_line_key_message() {
    let err = Config::parse(
        Path::new("/etc/sitebox/sitebox.toml"),
        "[site]\ntenant = \"a\"\nsite = \"\"\n",
    )
    .expect_err("empty site id");
    assert_eq!(
        err.to_string(),
        format!("/etc/sitebox/sitebox.toml:3:8: key `site.site`: {ID_RULE}")
    );
}

#[test]
fn provisioning_and_simulator_are_validated() {
    let source = "[site]\ntenant = \"a\"\nsite = \"b\"\n\n[provisioning]\ncommand_timeout = \"10ms\"\n\
                  radius_address = \"0.0.0.0\"\n\n[simulator]\nenabled = true\nlisten = \"0.0.0.0:8728\"\n\
                  version = \"seven\"\n";
    let found: Vec<(usize, String)> = problems(source)
        .into_iter()
        .map(|p| (p.line, p.key))
        .collect();
    assert_eq!(
        found,
        vec![
            (6, "provisioning.command_timeout".to_string()),
            (7, "provisioning.radius_address".to_string()),
            (11, "simulator.listen".to_string()),
            (12, "simulator.version".to_string()),
        ]
    );
    let dev = Config::dev().expect("dev config");
    assert!(dev.simulator.enabled && dev.simulator.listen.ip().is_loopback());
    assert!(
        dev.listeners()
            .iter()
            .any(|l| l.name == "routeros-simulator" && l.address == dev.simulator.listen)
    );
}

#[test]
fn the_web_page_needs_its_tls_pair_whole_and_is_a_listener() {
    let found = problems(
        "[site]\ntenant = \"a\"\nsite = \"b\"\n\n[web]\ntls_cert = \"/etc/sitebox/web.pem\"\nlockout_failures = 0\n",
    );
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    // In file order; a key that is not in the file comes last.
    assert_eq!(keys, ["web.lockout_failures", "web.tls_key"], "{found:?}");
    let config = Config::parse(
        Path::new("web"),
        "[site]\ntenant = \"a\"\nsite = \"b\"\n\n[web]\nlisten = \"192.168.88.2:8080\"\n",
    )
    .expect("config");
    let web = config
        .listeners()
        .into_iter()
        .find(|l| l.name == "web")
        .expect("the web listener");
    assert_eq!(
        (web.protocol, web.address),
        (Protocol::Tcp, "192.168.88.2:8080".parse().expect("addr"))
    );
}

#[test]
fn every_mistake_is_reported_at_once_in_file_order() {
    let source = "[site]\ntenant = \"acme\"\nsite = \"s1\"\n\n\
                  [queue]\nbackoff_base = \"1m\"\nbackoff_max = \"10s\"\nleese = \"30s\"\n\n\
                  [store]\nreaders = \"four\"\n\n\
                  [radius]\nrequest_timeout = \"soon\"\n";
    let found: Vec<(usize, String)> = problems(source)
        .into_iter()
        .map(|p| (p.line, p.key))
        .collect();
    assert_eq!(
        found,
        vec![
            (7, "queue.backoff_max".to_string()),
            (8, "queue.leese".to_string()),
            (11, "store.readers".to_string()),
            (14, "radius.request_timeout".to_string()),
        ]
    );
}

#[test]
fn a_missing_site_section_is_named_site_and_the_rest_is_still_checked() {
    let found: Vec<(usize, String)> = problems("[store]\nreaders = 0\n")
        .into_iter()
        .map(|p| (p.line, p.key))
        .collect();
    assert_eq!(
        found,
        vec![(2, "store.readers".to_string()), (0, "site".to_string())]
    );
}

#[test]
fn a_key_missing_from_a_section_is_named_with_its_section() {
    let found = problems("[site]\nsite = \"b\"\n\n[store]\nreaders = 0\n");
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert!(keys[0].starts_with("site"), "{found:?}");
}
