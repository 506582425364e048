//! Writes the synthetic attack mix of the stress benchmark and test (see
//! `lanterne::testutil::attack_pcap`): `attack_pcap OUT.pcap [SCALE [KINDS]]`
//! with KINDS a comma-separated subset of syn,hello,dns,quic,frag (default:
//! all); prints what it holds as JSON.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: attack_pcap OUT.pcap [SCALE [syn,hello,dns,quic,frag]]");
        std::process::exit(2);
    };
    let scale: u32 = args
        .get(2)
        .map_or(1, |s| s.parse().expect("SCALE: a number"));
    let mut mix = lanterne::testutil::AttackMix::scaled(scale);
    if let Some(kinds) = args.get(3) {
        let has = |k: &str| kinds.split(',').any(|x| x == k);
        let keep = |k: &str, n: u32| if has(k) { n } else { 0 };
        mix.syn_flood = keep("syn", mix.syn_flood);
        mix.partial_hellos = keep("hello", mix.partial_hellos);
        mix.dns_messages = keep("dns", mix.dns_messages);
        mix.quic_initials = keep("quic", mix.quic_initials);
        mix.fragments = keep("frag", mix.fragments);
    }
    let f = std::fs::File::create(out).expect("create");
    let t = lanterne::testutil::attack_pcap(&mix, f).expect("write");
    println!(
        "{{\"packets\":{},\"flows\":{},\"fragments\":{},\"legit_flows\":{},\"dns_names\":{},\"quic_initials\":{}}}",
        t.packets, t.flows, t.fragments, t.legit_flows, t.dns_names, t.quic_initials
    );
}
