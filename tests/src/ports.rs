//! Free loopback ports for peers that must be told a port before they start (mosquitto,
//! PostgreSQL, FreeRADIUS). Our own servers take a socket bound to port 0 instead.

use std::net::{TcpListener, UdpSocket};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    socket.local_addr().expect("local addr").port()
}
