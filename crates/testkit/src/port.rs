//! Ports for servers a test starts that cannot be handed a listener or asked for the port they
//! bound: the OCSP responder (`openssl ocsp`, whose URL certificates name before it starts) and the
//! Kafka broker. A port the kernel picks (`bind` to port 0) could meanwhile become the local port
//! of one of the many connections tests open; one below the ephemeral range cannot, and one handed
//! out twice in a process is never handed out again. Callers still retry on another port when the
//! server cannot bind (another process may have taken it).

/// A free port below the kernel's range of ephemeral ports, never handed out twice in a process.
///
/// # Panics
/// When none is found in 10,000 tries.
pub fn free() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let (low, high) = (10_000u16, ephemeral_from.max(10_001));
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..10_000 {
        let random = uuid::Uuid::new_v4().as_u128();
        let port = low + u16::try_from(random % u128::from(high - low)).unwrap_or(0);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port below {high}");
}
