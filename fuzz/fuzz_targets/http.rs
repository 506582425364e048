//! An HTTP/1.x request head (method, Host), and HTTP/2 frames (the
//! cleartext preface and DNS-over-HTTPS frames).
#![no_main]

use lanterne::proto::{h2, http};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = http::parse_request_head(data);
    let _ = h2::preface(data);
    let _ = h2::split_frames(data, |_, _, _, _| {});
});
