//! The attribute and vendor numbers the server itself uses (RFC 2865/2866/2869/3162/5176,
//! RFC 2548 for Microsoft, and the MikroTik and WISPr vendor dictionaries). Plain constants,
//! below everything else in the crate: the attribute codec and the dictionaries both use them,
//! and neither needs the other for it.

/// Standard attribute types used by the server.
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_PROTOCOL: u8 = 7;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const FRAMED_ROUTING: u8 = 10;
    pub const FRAMED_MTU: u8 = 12;
    pub const FRAMED_COMPRESSION: u8 = 13;
    pub const LOGIN_IP_HOST: u8 = 14;
    pub const LOGIN_SERVICE: u8 = 15;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const IDLE_TIMEOUT: u8 = 28;
    pub const CALLED_STATION_ID: u8 = 30;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const PROXY_STATE: u8 = 33;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_DELAY_TIME: u8 = 41;
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_AUTHENTIC: u8 = 45;
    pub const ACCT_SESSION_TIME: u8 = 46;
    pub const ACCT_INPUT_PACKETS: u8 = 47;
    pub const ACCT_OUTPUT_PACKETS: u8 = 48;
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
    pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const CHAP_CHALLENGE: u8 = 60;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const EAP_MESSAGE: u8 = 79;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    pub const NAS_PORT_ID: u8 = 87;
    pub const NAS_IPV6_ADDRESS: u8 = 95;
    pub const ERROR_CAUSE: u8 = 101;
}

/// SMI Private Enterprise Numbers of the built-in vendors.
pub mod vendor {
    pub const MICROSOFT: u32 = 311;
    pub const WISPR: u32 = 14122;
    pub const MIKROTIK: u32 = 14988;
}

/// Microsoft vendor attribute types (RFC 2548).
pub mod microsoft {
    pub const MS_CHAP_RESPONSE: u8 = 1;
    pub const MS_CHAP_ERROR: u8 = 2;
    pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
    pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    pub const MS_MPPE_RECV_KEY: u8 = 17;
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    pub const MS_CHAP2_SUCCESS: u8 = 26;
}

/// MikroTik vendor attribute types.
pub mod mikrotik {
    pub const RATE_LIMIT: u8 = 8;
    pub const HOST_IP: u8 = 10;
    pub const TOTAL_LIMIT: u8 = 17;
    pub const TOTAL_LIMIT_GIGAWORDS: u8 = 18;
    pub const ADDRESS_LIST: u8 = 19;
}

/// WISPr vendor attribute types.
pub mod wispr {
    pub const BANDWIDTH_MAX_UP: u8 = 7;
    pub const BANDWIDTH_MAX_DOWN: u8 = 8;
}
