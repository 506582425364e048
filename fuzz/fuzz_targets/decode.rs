//! One frame of any link type the decoder knows: link layers, VLAN/MPLS,
//! PPPoE, GRE/ERSPAN, VXLAN, GENEVE, GTP-U, CAPWAP, IP-in-IP, Teredo.
#![no_main]

use lanterne::decode::{decode, linktype};
use libfuzzer_sys::fuzz_target;

const LINKS: [u32; 14] = [
    linktype::ETHERNET,
    linktype::RAW,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::NULL,
    linktype::LOOP,
    linktype::PPP,
    linktype::PPP_HDLC,
    linktype::PPP_ETHER,
    linktype::C_HDLC,
    linktype::IEEE802_11,
    linktype::IEEE802_11_RADIOTAP,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let _ = decode(LINKS[sel as usize % LINKS.len()], frame);
});
