//! What a hostile or broken device on the LAN can send, through the real binary over a
//! real socket: none of it ends, stalls or bloats the server (issue 11's table of attacks).

use crate::util::{basic, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn connect(s: &Server) -> TcpStream {
    let c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

/// Everything the server sends until it closes the connection.
fn read_to_close(mut c: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

/// A server with a client that may use client_credentials, and its secret.
fn with_client(config: &str) -> (Server, String) {
    let s = Server::start_configured(config, &[]);
    let secret = s.add_client("dev", &["client_credentials"], &["read"]);
    (s, secret)
}

/// A token, once the server has closed what a burst left behind: a `503` for a full
/// connection table is asked again, as `Retry-After` says, for up to ten seconds.
fn token_ok(s: &Server, secret: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.post_basic("/token", "dev", secret, "grant_type=client_credentials");
        if r.status == 503 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        return;
    }
}

#[test]
fn a_huge_declared_body_is_refused_without_being_read() {
    let (mut s, secret) = with_client("");
    let before = s.rss_kib();
    for (method, path) in [("POST", "/token"), ("GET", "/health")] {
        let mut c = connect(&s);
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n"
        )
        .unwrap();
        let response = read_to_close(c);
        let expected = if method == "POST" { "413" } else { "200" };
        assert!(
            status_line(&response).contains(expected),
            "{method} {path}: {response}"
        );
        assert!(response.contains("connection: close"), "{response}");
    }
    assert!(s.is_running());
    assert!(
        s.rss_kib() < before + 8 * 1024,
        "{} -> {} KiB",
        before,
        s.rss_kib()
    );
    token_ok(&s, &secret);
}

#[test]
fn requests_reset_right_after_sending_do_not_end_the_server() {
    let (mut s, secret) = with_client("");
    let addr: SocketAddr = s.addr.parse().unwrap();
    // From a device of its own: until the server has reaped them, the reset connections
    // count against their address's cap, and the token below comes from another address.
    let source: SocketAddr = "127.0.0.77:0".parse().unwrap();
    for _ in 0..300 {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&source.into()).unwrap();
        sock.connect(&addr.into()).unwrap();
        let mut c: TcpStream = sock.into();
        let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        // Linger 0: closing sends a reset instead of a FIN.
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    assert!(s.is_running());
    token_ok(&s, &secret);
}

#[test]
fn half_sent_requests_hold_no_worker_and_time_out() {
    let (mut s, secret) = with_client("http_workers = 2\nhead_timeout = 2\nbody_timeout = 2\n");
    // More half-sent requests than workers: bodies promised and never sent, a chunked body
    // that stops, and a head that never ends.
    let mut stalled = Vec::new();
    for i in 0..4 {
        let mut c = connect(&s);
        let head = match i % 2 {
            0 => "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant",
            _ => "POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ngr",
        };
        c.write_all(head.as_bytes()).unwrap();
        stalled.push(c);
    }
    let mut slow_head = connect(&s);
    slow_head
        .write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    // Fresh requests are answered meanwhile.
    let started = Instant::now();
    token_ok(&s, &secret);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "a token took {waited:?}");
    // The stalled bodies get 408 and are closed; the stalled head is closed.
    for c in stalled {
        let response = read_to_close(c);
        assert!(status_line(&response).contains("408"), "{response}");
    }
    let mut rest = Vec::new();
    assert_eq!(slow_head.read_to_end(&mut rest).unwrap_or(0), rest.len());
    assert!(s.is_running());
    // And SIGTERM still ends the server promptly.
    assert!(s.stop().success());
}

#[test]
fn oversized_heads_get_431_and_memory_stays_bounded() {
    let (mut s, secret) = with_client("");
    let before = s.rss_kib();
    // One header line of 256 MiB, sent until the server stops reading.
    let mut c = connect(&s);
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    while sent < 256 << 20 {
        if c.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let response = read_to_close(c);
    assert!(
        response.is_empty() || status_line(&response).contains("431"),
        "{response}"
    );
    // Too many header fields.
    let mut c = connect(&s);
    let mut head = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..40 {
        head.push_str(&format!("X-H{i}: v\r\n"));
    }
    head.push_str("\r\n");
    c.write_all(head.as_bytes()).unwrap();
    assert!(status_line(&read_to_close(c)).contains("431"));
    // A chunk-size line of 128 MiB (a chunk extension that never ends).
    let mut c = connect(&s);
    c.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=")
        .unwrap();
    let mut sent = 0usize;
    while sent < 128 << 20 {
        if c.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = read_to_close(c);
    let after = s.rss_kib();
    assert!(after < before + 16 * 1024, "RSS {before} -> {after} KiB");
    assert!(s.is_running());
    token_ok(&s, &secret);
}

#[test]
fn past_the_connection_caps_a_quick_503_and_the_others_are_served() {
    let (s, secret) = with_client("max_connections = 6\nmax_connections_per_address = 3\n");
    let addr: SocketAddr = s.addr.parse().unwrap();
    // Three idle connections fill this address's share.
    let idle: Vec<_> = (0..3).map(|_| connect(&s)).collect();
    let refused = read_to_close(connect(&s));
    assert!(status_line(&refused).contains("503"), "{refused}");
    assert!(refused.contains("Retry-After: 5"), "{refused}");
    // Another address still gets in.
    let other = from_address(addr, "127.0.0.2");
    let mut other = other;
    write!(
        other,
        "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\nConnection: close\r\n\r\ngrant_type=client_credentials",
        basic("dev", &secret)
    )
    .unwrap();
    assert!(status_line(&read_to_close(other)).contains("200"));
    drop(idle);
    assert!(s
        .wait_for_log("connection limit reached", 1)
        .contains("3 per address"));
}

#[test]
fn past_the_turn_aways_that_wait_for_their_client_the_next_still_gets_its_503() {
    let (s, _) = with_client("max_connections = 6\nmax_connections_per_address = 3\n");
    let idle: Vec<_> = (0..3).map(|_| connect(&s)).collect();
    // Sixty-four turned-away clients that read their 503 and never close: each holds a
    // turn-away that waits up to a second for the client to hang up.
    let waiting: Vec<_> = (0..64)
        .map(|_| {
            let mut c = connect(&s);
            let mut head = [0u8; 12];
            c.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 503");
            c
        })
        .collect();
    // The next one, past them, sends its request at once as a device does: it must read
    // the answer, not a reset or an empty close.
    let mut c = connect(&s);
    c.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials")
        .unwrap();
    let mut out = Vec::new();
    let read = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        read.is_ok() && status_line(&text).contains("503"),
        "{read:?}: {text:?}"
    );
    drop((idle, waiting));
}

fn from_address(server: SocketAddr, source: &str) -> TcpStream {
    let c = crate::util::connect_from(&server.to_string(), Some(source));
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

#[test]
fn fifteen_hundred_idle_connections_from_one_address_crowd_out_no_one() {
    // Under systemd's default descriptor limit, where a thread and two descriptors per
    // connection once ended the process at about 600.
    let mut s = Server::start_wrapped(&["sh", "-c", "ulimit -n 1024 && exec \"$0\" \"$@\""]);
    let secret = s.add_client("dev", &["client_credentials"], &["read"]);
    let addr: SocketAddr = s.addr.parse().unwrap();
    // Those past this address's share are answered 503 and closed at once: they are let
    // go batch by batch, so that this process holds only what the server holds.
    let answered = |c: &mut TcpStream| {
        c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        c.read(&mut [0u8; 1]).is_ok()
    };
    let mut held: Vec<TcpStream> = Vec::new();
    for batch in 0..15 {
        for _ in 0..100 {
            held.push(connect(&s));
        }
        held.retain_mut(|c| !answered(c));
        eprintln!("batch {batch}: {} connections held open", held.len());
    }
    assert!(!held.is_empty());
    let started = Instant::now();
    let mut c = from_address(addr, "127.0.0.2");
    write!(
        c,
        "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\nConnection: close\r\n\r\ngrant_type=client_credentials",
        basic("dev", &secret)
    )
    .unwrap();
    let response = read_to_close(c);
    let took = started.elapsed();
    assert!(status_line(&response).contains("200"), "{response}");
    // The issue asks for an answer within a second; this machine may be busy, so the
    // bound is loose and the figure is printed.
    eprintln!(
        "token from another address with {} idle connections held: {took:?}",
        held.len()
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(s.is_running());
    drop(held);
    token_ok(&s, &secret);
}

#[test]
fn guessing_a_password_or_a_secret_is_stopped_without_locking_out_anyone_else() {
    let s = Server::start();
    let secret = s.add_client("app", &["password"], &["read"]);
    s.add_user("alice", "right-pw", &["read"]);
    let login = |from: &str, pw: &str| {
        s.post_basic_from(
            from,
            "/token",
            "app",
            &secret,
            &format!("grant_type=password&username=alice&password={pw}"),
        )
    };
    // A device at .66 guesses alice's password: five wrong, then refused unchecked, the
    // right password included, with a wait that grows.
    for _ in 0..5 {
        assert_eq!(login("127.0.0.66", "guess").error(), "invalid_grant");
    }
    let held = login("127.0.0.66", "right-pw");
    assert_eq!(held.status, 429, "{}", String::from_utf8_lossy(&held.body));
    assert_eq!(held.header("retry-after"), Some("1"));
    // Alice's phone, elsewhere, is not locked out.
    assert_eq!(login("127.0.0.20", "right-pw").status, 200);
    // Guessing client secrets from one address: ten failures, then refused unchecked.
    for i in 0..10 {
        let r = s.post_basic_from(
            "127.0.0.77",
            "/token",
            &format!("dev{i}"),
            "guess",
            "grant_type=client_credentials",
        );
        assert_eq!(r.status, 401);
    }
    let r = s.post_basic_from(
        "127.0.0.77",
        "/token",
        "app",
        &secret,
        "grant_type=password",
    );
    assert_eq!(r.status, 429);
    assert!(
        s.post_basic_from(
            "127.0.0.78",
            "/token",
            "app",
            &secret,
            "grant_type=password&username=alice&password=right-pw"
        )
        .status
            == 200
    );
    // The refusals are summarised in the log, not a line each.
    assert_eq!(
        s.wait_for_log("refused unchecked", 1)
            .matches("refused unchecked")
            .count(),
        1
    );
}
