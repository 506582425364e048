//! A DNS message (names, compression pointers, every record type parsed),
//! and a TCP DNS stream of length-prefixed messages.
#![no_main]

use lanterne::proto::dns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse_message(data);
    let _ = dns::parse_message_opts(data, false);
    dns::split_tcp_messages(data, |m| {
        let _ = dns::parse_message(m);
    });
    let _ = dns::looks_like_dns(data);
});
