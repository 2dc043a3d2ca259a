//! The IMDSv2 client against the local fake that enforces IMDSv2 (tokens with a TTL, 401
//! without a valid one, expiry), with the fake down, slow, or rate-limiting.
#![cfg(feature = "aws")]

use crate::support::aws as fakes;

use std::time::{Duration, Instant};

use drainguard::aws::imds::{Backoff, Imds, ImdsConfig, ImdsError};
use drainguard::aws::lifecycle::{self, Termination};
use fakes::{FakeImds, Fault};

fn client(url: &str, ttl: Duration) -> Imds {
    Imds::new(ImdsConfig {
        endpoint: url.to_string(),
        token_ttl: ttl,
        timeout: Duration::from_millis(500),
        attempts: 6,
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
    })
}

#[test]
fn reuses_one_token_and_renews_it_before_it_expires() {
    let fake = FakeImds::start("i-0abc");
    let imds = client(&fake.url, Duration::from_secs(2));
    for _ in 0..5 {
        assert_eq!(
            imds.get("/latest/meta-data/instance-id")
                .unwrap()
                .as_deref(),
            Some("i-0abc")
        );
    }
    assert_eq!(
        fake.with(|s| s.token_puts),
        1,
        "one token serves many reads"
    );
    // Past 3/4 of the 2 s lifetime the client renews on its own: no read is ever refused.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(4500) {
        assert!(imds.get("/latest/meta-data/instance-id").unwrap().is_some());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (puts, rejected) = fake.with(|s| (s.token_puts, s.rejected_401));
    assert!(
        puts >= 3,
        "renewed at least twice in 4.5 s with a 2 s TTL: {puts}"
    );
    assert_eq!(rejected, 0, "renewal happened before expiry");
}

#[test]
fn a_forgotten_token_is_replaced_after_the_401() {
    let fake = FakeImds::start("i-0abc");
    let imds = client(&fake.url, Duration::from_secs(600));
    assert!(imds.get("/latest/meta-data/instance-id").unwrap().is_some());
    fake.forget_tokens();
    assert_eq!(
        imds.get("/latest/meta-data/instance-id")
            .unwrap()
            .as_deref(),
        Some("i-0abc")
    );
    assert_eq!(fake.with(|s| (s.rejected_401, s.token_puts)), (1, 2));
}

#[test]
fn rate_limits_errors_and_slowness_are_retried_with_backoff() {
    let fake = FakeImds::start("i-0abc");
    fake.with(|s| {
        s.faults.extend([
            Fault::Status(429),
            Fault::Status(503),
            Fault::Delay(Duration::from_millis(900)),
            Fault::Status(500),
        ])
    });
    let imds = client(&fake.url, Duration::from_secs(600));
    assert_eq!(
        imds.get("/latest/meta-data/instance-id")
            .unwrap()
            .as_deref(),
        Some("i-0abc")
    );
    assert_eq!(fake.with(|s| s.faults_served), 4);
}

#[test]
fn a_service_that_stays_down_is_an_error_not_a_hang_or_panic() {
    let fake = FakeImds::start("i-0abc");
    fake.with(|s| s.faults.extend(vec![Fault::Status(503); 50]));
    let imds = client(&fake.url, Duration::from_secs(600));
    let err = imds.get("/latest/meta-data/instance-id").unwrap_err();
    assert!(
        matches!(err, ImdsError::Exhausted { attempts: 6, .. }),
        "{err}"
    );
    // Nothing listening at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let imds = client(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(600),
    );
    assert!(matches!(
        imds.get("/latest/meta-data/instance-id"),
        Err(ImdsError::Exhausted { .. })
    ));
}

#[test]
fn imdsv1_only_is_refused_clearly() {
    let fake = FakeImds::start("i-0abc");
    fake.with(|s| s.refuse_tokens = true);
    let imds = client(&fake.url, Duration::from_secs(600));
    let err = imds.get("/latest/meta-data/instance-id").unwrap_err();
    assert!(matches!(err, ImdsError::TokenRefused(403)), "{err}");
    assert!(err.to_string().contains("IMDSv2"), "{err}");
}

#[test]
fn sees_the_lifecycle_state_and_the_spot_notice() {
    let fake = FakeImds::start("i-0abc");
    let imds = client(&fake.url, Duration::from_secs(600));
    assert_eq!(lifecycle::poll(&imds).unwrap(), None);
    fake.with(|s| s.target_state = "Warmed:Terminated".into());
    assert_eq!(
        lifecycle::poll(&imds).unwrap(),
        Some(Termination::AutoScaling)
    );
    fake.with(|s| s.target_state = "Warmed:Stopped".into());
    assert_eq!(lifecycle::poll(&imds).unwrap(), None);
    fake.terminate();
    assert_eq!(
        lifecycle::poll(&imds).unwrap(),
        Some(Termination::AutoScaling)
    );
    let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    fake.spot_notice("terminate", at);
    assert_eq!(
        lifecycle::poll(&imds).unwrap(),
        Some(Termination::Spot {
            action: "terminate".into(),
            time: at
        })
    );
}
