//! The result of a `resend_from` command (docs/PROTOCOL.md §6): what the edge did with the
//! cloud's request to send again from a seq.

use serde::{Deserialize, Serialize};

/// What a `resend_from` did at the edge. The edge writes it as the command's `result`; the
/// edge's own driver reads it back to decide whether to rewind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendOutcome {
    /// The seq asked for.
    pub from: u64,
    /// The edge's cursor after the command.
    pub cursor: u64,
    /// Rows made unacked again (the cloud had acked them and lost them).
    pub unacked_again: usize,
    /// The oldest seq the edge still holds (seqs below it were pruned and cannot be sent
    /// again).
    pub oldest_held: Option<u64>,
    /// The request was overtaken: an ack the cloud committed after issuing it already covers
    /// `from`, so the gap it saw is filled and nothing was rewound. A request that waited in
    /// the broker while the uplink was down arrives like this after the backlog has drained.
    #[serde(default)]
    pub overtaken: bool,
}

impl ResendOutcome {
    /// Whether a request issued at `issued_at` (cloud clock, ms; 0 when the cloud did not
    /// say) for everything from `from` is overtaken by the edge's cursor `cursor`, last raised
    /// by an ack whose `server_time` was `acked_server_time` (cloud clock, ms).
    ///
    /// Both times are the cloud's, so the box's own clock plays no part. With several cloud
    /// processes they are different machines' clocks: the rule holds while they agree to
    /// better than the time between the request and the ack that overtook it (a reconnect
    /// after an outage: seconds at least).
    pub fn overtakes(
        cursor: u64,
        acked_server_time: Option<i64>,
        from: u64,
        issued_at: i64,
    ) -> bool {
        issued_at > 0 && cursor >= from && acked_server_time.is_some_and(|at| at > issued_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ack_committed_after_the_request_and_covering_it_overtakes_it() {
        // The cloud asked at t=100 for 4460 on; an ack at t=200 took the cursor to 38000.
        assert!(ResendOutcome::overtakes(38_000, Some(200), 4460, 100));
        // The cursor was raised before the request: the cloud lost data since (a restore).
        assert!(!ResendOutcome::overtakes(38_000, Some(90), 4460, 100));
        // The cursor does not cover the request.
        assert!(!ResendOutcome::overtakes(4459, Some(200), 4460, 100));
        // Never acked, or a cloud that does not say when it asked.
        assert!(!ResendOutcome::overtakes(38_000, None, 4460, 100));
        assert!(!ResendOutcome::overtakes(38_000, Some(200), 4460, 0));
    }

    #[test]
    fn reads_a_result_without_the_flag_as_not_overtaken() {
        let old: ResendOutcome = serde_json::from_str(
            r#"{"from":1043,"cursor":1042,"unacked_again":0,"oldest_held":1}"#,
        )
        .expect("decode");
        assert!(!old.overtaken);
        assert_eq!(
            serde_json::to_string(&ResendOutcome {
                overtaken: true,
                ..old
            })
            .expect("encode"),
            r#"{"from":1043,"cursor":1042,"unacked_again":0,"oldest_held":1,"overtaken":true}"#
        );
    }
}
