//! lanterne: shows which public generative-AI services an organisation's hosts
//! use, from network traffic (pcap/pcapng files, or live capture).
//!
//! Pipeline (see DESIGN.md): [`source`] → [`decode`] → [`flow`] table in the
//! [`engine`] → extractors in [`proto`] → [`signatures`] → [`report`].

pub mod candidates;
pub mod capture;
pub mod clickhouse;
pub mod decode;
pub mod dedup;
pub mod defrag;
pub mod engine;
pub mod facts;
pub mod flow;
pub mod hostlists;
pub mod html;
pub mod i18n;
pub mod limits;
pub mod merge;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod privacy;
pub mod privileges;
pub mod proto;
pub mod report;
pub mod risk;
pub mod signatures;
pub mod source;
pub mod stats;
pub mod suggest;
pub mod testutil;
