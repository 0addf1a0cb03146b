//! The site scenario's short form (see `sitebox_tests::scenario`): three simulated hours of a
//! hotspot site with 2,000 customers (the long form, `scenario --long`, is a whole day),
//! payments from the cloud (some twice), the uplink down for a third of the day, a power cut and a router down
//! for an hour. Fails on any breach of the oracle; the report goes to
//! `$SITEBOX_ARTIFACTS/scenario.{json,html}`.

use sitebox_tests::scenario::{self, Binaries, Options};

const SITEBOXD: &str = env!("CARGO_BIN_EXE_siteboxd-under-test");
const CLOUD: &str = env!("CARGO_BIN_EXE_sitebox-cloud-under-test");

#[test]
fn a_site_day_keeps_every_promise_through_outages_and_a_power_cut() {
    let seed = std::env::var("SITEBOX_SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_124);
    let artifacts = std::env::var_os("SITEBOX_ARTIFACTS").map(std::path::PathBuf::from);
    let binaries = Binaries {
        siteboxd: SITEBOXD.into(),
        cloud: CLOUD.into(),
    };
    let outcome = scenario::run(&Options::short(seed), &binaries, artifacts.as_deref())
        .expect("the scenario ran");
    let text = scenario::report::text(&outcome.report);
    println!("{text}");
    assert!(outcome.breaches.is_empty(), "{text}");
    let figures = &outcome.report["figures"];
    // The day really happened: the storm, the cut-offs and the repeats were all exercised.
    assert!(figures["storm_requests"].as_u64() >= Some(50), "{text}");
    assert!(figures["disconnect_acked"].as_u64() >= Some(1), "{text}");
    assert!(
        figures["payments_repeated_same_command"].as_u64() >= Some(1),
        "{text}"
    );
    assert!(
        figures["payments_repeated_new_command"].as_u64() >= Some(1),
        "{text}"
    );
    assert!(figures["readmission_checks"].as_u64() >= Some(1), "{text}");
    assert!(outcome.html.contains("<svg"), "the page has its timeline");
}
