//! Replies encoded for both versions, checked field by field and against the OCPP schemas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{assert_schema_valid, received, utc};
use zaryad_adapter::encode_reply;
use zaryad_model::{
    AuthorizationInfo, AuthorizationStatus, DataTransferStatus, Registration, Reply,
};
use zaryad_wire::OcppVersion;

fn v16(action: &str, reply: &Reply) -> Value {
    let answer = encode_reply(OcppVersion::V16, action, reply);
    assert_schema_valid("v16", action, &answer);
    answer
}

fn v201(action: &str, reply: &Reply) -> Value {
    let answer = encode_reply(OcppVersion::V201, action, reply);
    assert_schema_valid("v201", action, &answer);
    answer
}

fn info(status: AuthorizationStatus) -> AuthorizationInfo {
    AuthorizationInfo {
        status,
        expires_at: None,
        parent: None,
    }
}

fn full_info() -> AuthorizationInfo {
    AuthorizationInfo {
        status: AuthorizationStatus::Accepted,
        expires_at: Some(utc(2026, 12, 31, 23, 59, 59)),
        parent: Some("GROUP-1".into()),
    }
}

const STATUSES: [AuthorizationStatus; 6] = [
    AuthorizationStatus::Accepted,
    AuthorizationStatus::Blocked,
    AuthorizationStatus::Expired,
    AuthorizationStatus::Invalid,
    AuthorizationStatus::Unknown,
    AuthorizationStatus::ConcurrentTx,
];

#[test]
fn boot_answers_carry_status_time_and_interval() {
    for (registration, wire) in [
        (Registration::Accepted, "Accepted"),
        (Registration::Pending, "Pending"),
        (Registration::Rejected, "Rejected"),
    ] {
        let reply = Reply::Boot {
            registration,
            interval_seconds: 300,
            current_time: received(),
        };
        let expected =
            json!({"status": wire, "currentTime": "2026-03-01T12:00:00.000Z", "interval": 300});
        assert_eq!(v16("BootNotification", &reply), expected);
        assert_eq!(v201("BootNotification", &reply), expected);
    }
}

#[test]
fn heartbeat_answers_carry_utc_time() {
    let reply = Reply::Heartbeat {
        current_time: received() + chrono::Duration::milliseconds(7),
    };
    let expected = json!({"currentTime": "2026-03-01T12:00:00.007Z"});
    assert_eq!(v16("Heartbeat", &reply), expected);
    assert_eq!(v201("Heartbeat", &reply), expected);
}

#[test]
fn empty_answers() {
    for action in [
        "StatusNotification",
        "MeterValues",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "SecurityEventNotification",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    ] {
        assert_eq!(v16(action, &Reply::Empty), json!({}), "{action}");
    }
    for action in [
        "StatusNotification",
        "MeterValues",
        "NotifyEvent",
        "NotifyReport",
        "SecurityEventNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "NotifyMonitoringReport",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "ReservationStatusUpdate",
        "ClearedChargingLimit",
        "PublishFirmwareStatusNotification",
        "NotifyChargingLimit",
        "ReportChargingProfiles",
    ] {
        assert_eq!(v201(action, &Reply::Empty), json!({}), "{action}");
    }
}

#[test]
fn authorize_16_spells_unknown_as_invalid() {
    let expected = [
        "Accepted",
        "Blocked",
        "Expired",
        "Invalid",
        "Invalid",
        "ConcurrentTx",
    ];
    for (status, wire) in STATUSES.into_iter().zip(expected) {
        let answer = v16("Authorize", &Reply::Authorize(info(status)));
        assert_eq!(answer, json!({"idTagInfo": {"status": wire}}), "{status:?}");
    }
    assert_eq!(
        v16("Authorize", &Reply::Authorize(full_info())),
        json!({"idTagInfo": {"status": "Accepted", "expiryDate": "2026-12-31T23:59:59.000Z",
            "parentIdTag": "GROUP-1"}})
    );
}

#[test]
fn authorize_201_has_unknown_and_a_group_token() {
    let expected = [
        "Accepted",
        "Blocked",
        "Expired",
        "Invalid",
        "Unknown",
        "ConcurrentTx",
    ];
    for (status, wire) in STATUSES.into_iter().zip(expected) {
        let answer = v201("Authorize", &Reply::Authorize(info(status)));
        assert_eq!(
            answer,
            json!({"idTokenInfo": {"status": wire}}),
            "{status:?}"
        );
    }
    assert_eq!(
        v201("Authorize", &Reply::Authorize(full_info())),
        json!({"idTokenInfo": {"status": "Accepted",
            "cacheExpiryDateTime": "2026-12-31T23:59:59.000Z",
            "groupIdToken": {"idToken": "GROUP-1", "type": "Central"}}})
    );
}

#[test]
fn overlong_groups_are_left_out_rather_than_breaking_the_schema() {
    let mut long = full_info();
    long.parent = Some("G".repeat(21));
    let answer = v16("Authorize", &Reply::Authorize(long.clone()));
    assert_eq!(answer["idTagInfo"].get("parentIdTag"), None);
    let answer = v201("Authorize", &Reply::Authorize(long.clone()));
    assert_eq!(
        answer["idTokenInfo"]["groupIdToken"]["idToken"],
        "G".repeat(21)
    );
    long.parent = Some("G".repeat(37));
    let answer = v201("Authorize", &Reply::Authorize(long));
    assert_eq!(answer["idTokenInfo"].get("groupIdToken"), None);
}

#[test]
fn start_transaction_16_assigns_the_id() {
    let reply = Reply::Transaction {
        assigned_transaction_id: Some(1_706_601_047),
        authorization: Some(info(AuthorizationStatus::Accepted)),
    };
    assert_eq!(
        v16("StartTransaction", &reply),
        json!({"transactionId": 1_706_601_047, "idTagInfo": {"status": "Accepted"}})
    );
    let blocked = Reply::Transaction {
        assigned_transaction_id: Some(5),
        authorization: Some(info(AuthorizationStatus::Unknown)),
    };
    assert_eq!(
        v16("StartTransaction", &blocked),
        json!({"transactionId": 5, "idTagInfo": {"status": "Invalid"}})
    );
}

#[test]
fn start_transaction_16_without_a_decision_fails_closed() {
    let reply = Reply::Transaction {
        assigned_transaction_id: Some(9),
        authorization: None,
    };
    assert_eq!(
        v16("StartTransaction", &reply),
        json!({"transactionId": 9, "idTagInfo": {"status": "Invalid"}})
    );
}

#[test]
fn stop_transaction_16_is_empty_or_carries_the_token_decision() {
    let bare = Reply::Transaction {
        assigned_transaction_id: None,
        authorization: None,
    };
    assert_eq!(v16("StopTransaction", &bare), json!({}));
    let decided = Reply::Transaction {
        assigned_transaction_id: None,
        authorization: Some(full_info()),
    };
    assert_eq!(
        v16("StopTransaction", &decided),
        json!({"idTagInfo": {"status": "Accepted", "expiryDate": "2026-12-31T23:59:59.000Z",
            "parentIdTag": "GROUP-1"}})
    );
}

#[test]
fn transaction_event_201_is_empty_or_carries_the_token_decision() {
    let bare = Reply::Transaction {
        assigned_transaction_id: None,
        authorization: None,
    };
    assert_eq!(v201("TransactionEvent", &bare), json!({}));
    let decided = Reply::Transaction {
        assigned_transaction_id: Some(3),
        authorization: Some(info(AuthorizationStatus::Blocked)),
    };
    assert_eq!(
        v201("TransactionEvent", &decided),
        json!({"idTokenInfo": {"status": "Blocked"}})
    );
}

#[test]
fn data_transfer_16_sends_data_as_text() {
    let statuses = [
        (DataTransferStatus::Accepted, "Accepted"),
        (DataTransferStatus::Rejected, "Rejected"),
        (DataTransferStatus::UnknownMessageId, "UnknownMessageId"),
        (DataTransferStatus::UnknownVendorId, "UnknownVendorId"),
    ];
    for (status, wire) in statuses {
        let reply = Reply::DataTransfer { status, data: None };
        assert_eq!(v16("DataTransfer", &reply), json!({"status": wire}));
        assert_eq!(v201("DataTransfer", &reply), json!({"status": wire}));
    }
    let text = Reply::DataTransfer {
        status: DataTransferStatus::Accepted,
        data: Some(json!(
            "{\"messageId\":\"j1\",\"memberType\":\"1\",\"unitPrice\":\"347.2\"}"
        )),
    };
    assert_eq!(
        v16("DataTransfer", &text)["data"],
        "{\"messageId\":\"j1\",\"memberType\":\"1\",\"unitPrice\":\"347.2\"}"
    );
    let object = Reply::DataTransfer {
        status: DataTransferStatus::Accepted,
        data: Some(json!({"unitPrice": 347.2})),
    };
    assert_eq!(
        v16("DataTransfer", &object)["data"],
        "{\"unitPrice\":347.2}"
    );
    let null = Reply::DataTransfer {
        status: DataTransferStatus::Rejected,
        data: Some(Value::Null),
    };
    assert_eq!(v16("DataTransfer", &null), json!({"status": "Rejected"}));
}

#[test]
fn data_transfer_201_sends_data_as_json() {
    let object = Reply::DataTransfer {
        status: DataTransferStatus::Accepted,
        data: Some(json!({"unitPrice": 347.2, "tiers": [1, 2]})),
    };
    assert_eq!(
        v201("DataTransfer", &object),
        json!({"status": "Accepted", "data": {"unitPrice": 347.2, "tiers": [1, 2]}})
    );
}

#[test]
fn an_empty_reply_to_an_answer_with_required_fields_fails_closed() {
    assert_eq!(
        v16("Authorize", &Reply::Empty),
        json!({"idTagInfo": {"status": "Invalid"}})
    );
    assert_eq!(
        v16("StartTransaction", &Reply::Empty),
        json!({"transactionId": 0, "idTagInfo": {"status": "Invalid"}})
    );
    assert_eq!(
        v16("DataTransfer", &Reply::Empty),
        json!({"status": "Rejected"})
    );
    assert_eq!(
        v16("SignCertificate", &Reply::Empty),
        json!({"status": "Rejected"})
    );
    assert_eq!(
        v201("Authorize", &Reply::Empty),
        json!({"idTokenInfo": {"status": "Invalid"}})
    );
    assert_eq!(
        v201("DataTransfer", &Reply::Empty),
        json!({"status": "Rejected"})
    );
    for action in [
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "SignCertificate",
        "GetCertificateStatus",
        "Get15118EVCertificate",
    ] {
        let answer = v201(action, &Reply::Empty);
        assert_ne!(answer["status"], "Accepted", "{action}");
    }
}

#[test]
fn the_schema_check_itself_rejects_bad_answers() {
    let bad = [
        (
            "BootNotification",
            json!({"status": "Accepted", "currentTime": "2026-03-01T12:00:00", "interval": 1}),
        ),
        ("Authorize", json!({"idTagInfo": {"status": "Unknown"}})),
        (
            "DataTransfer",
            json!({"status": "Accepted", "data": {"a": 1}}),
        ),
        (
            "StartTransaction",
            json!({"idTagInfo": {"status": "Accepted"}}),
        ),
    ];
    for (action, answer) in bad {
        let result = std::panic::catch_unwind(|| assert_schema_valid("v16", action, &answer));
        assert!(result.is_err(), "{action}: {answer} passed the schema");
    }
}
