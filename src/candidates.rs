//! Candidates: server names that match no catalog entry but look like
//! generative-AI services. They are reported apart from AI use ("possibly
//! AI, not in the catalog — review") and never counted as AI.
//!
//! A name gets at most one *clue*, the first that applies in this order:
//!
//! | clue | when |
//! |---|---|
//! | `platform-gradio` | a Gradio share link or hosted app: `*.gradio.live`, `*.gradio.app` |
//! | `platform-modal` | an app on Modal, a GPU cloud used almost only for AI inference: `*.modal.run` |
//! | `platform-runpod` | a RunPod GPU pod's public proxy: `*.proxy.runpod.net` |
//! | `platform-azure-ml` | an Azure Machine Learning online endpoint: `*.inference.ml.azure.com` |
//! | `platform-sagemaker` | a SageMaker inference endpoint: `runtime.sagemaker.REGION.amazonaws.com` |
//! | `keyword-gpt`, `keyword-llm`, ... | a label holds one of the [`KEYWORDS`] (a distinctive word anywhere in a label; `llm`, `mcp`, `rag` only as a whole word: a label or a `-`/`_`-separated part of one) |
//! | `label-ai` | a label is `ai`, has a `-ai`/`ai-` part, or is `ai` joined to a word of [`AI_WORDS`] (`aichat`, `voiceai`) |
//! | `tld-ai` | the name is under the `.ai` top-level domain |
//!
//! Never a candidate: names the catalog matches (they are AI use), IP
//! addresses, names without a dot or with other characters than letters,
//! digits, `-` and `_`, and *lookalikes*: a name that holds a
//! catalog name followed by more labels (`chatgpt.com.evil.example`,
//! `claude.ai.cdn-example.net`), or whose registrable label starts or ends
//! with a vendor's own domain label (`notchatgpt.com`, `fakeperplexity.ai`,
//! `myhuggingface.co`, `chatgpt-free.xyz`), or is a word such as `not`,
//! `fake`, `my`, `free` before any vendor's label (`notjasper.ai`,
//! `notx.ai`): typo-squatting and phishing are far more common under such
//! names than new AI services.
//!
//! Work per name is bounded: at most [`MAX_LABELS`] labels are looked at,
//! each keyword test is linear in the label, and the lookalike test costs
//! one catalog lookup per label plus two brand lookups per label position.

use crate::signatures::{lower_name, registrable_len, Catalog, MAX_NAME};

/// Distinctive words: (word, clue, whole word only).
pub const KEYWORDS: &[(&str, &str, bool)] = &[
    ("gpt", "keyword-gpt", false),
    ("llm", "keyword-llm", true),
    ("llms", "keyword-llm", true),
    ("genai", "keyword-genai", false),
    ("aigc", "keyword-aigc", false),
    ("copilot", "keyword-copilot", false),
    ("chatbot", "keyword-chatbot", false),
    ("openai", "keyword-openai", false),
    ("llama", "keyword-llama", false),
    ("diffusion", "keyword-diffusion", false),
    ("comfyui", "keyword-comfyui", false),
    ("langchain", "keyword-langchain", false),
    ("agentic", "keyword-agentic", false),
    ("aiagent", "keyword-agentic", false),
    ("mcp", "keyword-mcp", true),
    ("rag", "keyword-rag", true),
];

/// Words that make a label joined with `ai` an AI name (`aichat`, `musicai`).
pub const AI_WORDS: &[&str] = &[
    "chat",
    "gpt",
    "write",
    "writer",
    "writing",
    "art",
    "arts",
    "image",
    "images",
    "img",
    "video",
    "videos",
    "voice",
    "photo",
    "photos",
    "music",
    "song",
    "songs",
    "code",
    "coder",
    "coding",
    "tool",
    "tools",
    "bot",
    "bots",
    "gen",
    "story",
    "text",
    "avatar",
    "design",
    "logo",
    "resume",
    "essay",
    "search",
    "agent",
    "agents",
    "assistant",
    "talk",
    "translate",
    "note",
    "notes",
    "slides",
    "ppt",
    "meeting",
    "model",
    "models",
    "chatbot",
    "companion",
    "girlfriend",
    "anime",
    "humanizer",
    "detector",
    "paraphrase",
    "summarizer",
    "tutor",
    "homework",
    "math",
];

/// Labels looked at, at most (deeper names get no clue).
pub const MAX_LABELS: usize = 16;

/// Every clue, for documentation and tests.
pub const CLUES: &[&str] = &[
    "platform-gradio",
    "platform-modal",
    "platform-runpod",
    "platform-azure-ml",
    "platform-sagemaker",
    "keyword-gpt",
    "keyword-llm",
    "keyword-genai",
    "keyword-aigc",
    "keyword-copilot",
    "keyword-chatbot",
    "keyword-openai",
    "keyword-llama",
    "keyword-diffusion",
    "keyword-comfyui",
    "keyword-langchain",
    "keyword-agentic",
    "keyword-mcp",
    "keyword-rag",
    "label-ai",
    "tld-ai",
];

/// The clue of a name that `cat` does not match, or `None`.
pub fn clue(cat: &Catalog, name: &str) -> Option<&'static str> {
    let mut buf = [0u8; MAX_NAME];
    let lower = lower_name(name, &mut buf)?;
    let b = lower.as_bytes();
    if b.len() > 253 {
        return None;
    }
    // One pass over the name: host-name characters only (letters, digits,
    // `-`, `_`; IDNs are punycode on the wire, so nothing else reaches a
    // report as a candidate), no empty label, at most MAX_LABELS labels,
    // not all digits (an IPv4 address); where the labels end.
    let mut ends = [0usize; MAX_LABELS];
    let (mut n, mut start, mut digits_only) = (0, 0, true);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'-' | b'_' => digits_only = false,
            b'0'..=b'9' => {}
            b'.' => {
                if i == start || n + 1 == MAX_LABELS {
                    return None;
                }
                ends[n] = i;
                n += 1;
                start = i + 1;
            }
            _ => return None,
        }
    }
    if n == 0 || start == b.len() || digits_only {
        return None;
    }
    ends[n] = b.len();
    n += 1;
    let mut labels: [&str; MAX_LABELS] = [""; MAX_LABELS];
    let mut from = 0;
    for (l, &end) in labels.iter_mut().zip(&ends[..n]) {
        *l = &lower[from..end];
        from = end + 1;
    }
    let labels = &labels[..n];
    let clue = platform_clue(labels)
        .or_else(|| keyword_clue(labels))
        .or_else(|| label_ai_clue(labels))
        .or_else(|| (labels[n - 1] == "ai").then_some("tld-ai"))?;
    if is_lookalike(cat, lower, labels) {
        return None;
    }
    Some(clue)
}

/// A catalog name followed by more labels, or a registrable label built
/// around a vendor label.
fn is_lookalike(cat: &Catalog, lower: &str, labels: &[&str]) -> bool {
    // (`claude.ai.cdn-example.net`: a catalog name or a vendor's domain,
    // listed or only under a wildcard, then more labels.)
    let mut end = 0;
    let mut prev_start = 0;
    for (i, l) in labels[..labels.len() - 1].iter().enumerate() {
        let start = end;
        end += l.len();
        if cat.match_name(&lower[..end]).is_some()
            || (i > 0 && cat.is_vendor_domain(&lower[prev_start..end]))
        {
            return true;
        }
        prev_start = start;
        end += 1;
    }
    let reg = registrable_len(labels);
    let label = labels[labels.len() - reg];
    // (`notjasper.ai`, `fake-x.ai`: a word that says "not the real one",
    // then any vendor's label, however short or ordinary.)
    let copied = LOOKALIKE_PREFIXES.iter().any(|p| {
        label
            .strip_prefix(p)
            .map(|rest| rest.trim_start_matches(['-', '_']))
            .is_some_and(|rest| cat.is_any_vendor_label(rest))
    });
    copied
        || std::iter::once(label)
            .chain(label.split(['-', '_']))
            .any(|part| affixed_vendor_label(cat, part))
}

/// Words put before a service's name to imitate it (`notchatgpt`,
/// `fakeperplexity`, `myjasper`, `free-x`).
const LOOKALIKE_PREFIXES: &[&str] = &[
    "not", "fake", "my", "free", "real", "true", "official", "the", "get", "try", "login", "secure",
];

/// Does `s` start or end with a vendor label?
fn affixed_vendor_label(cat: &Catalog, s: &str) -> bool {
    (4..=s.len()).any(|k| {
        s.is_char_boundary(k)
            && s.is_char_boundary(s.len() - k)
            && (cat.is_vendor_label(&s[..k]) || cat.is_vendor_label(&s[s.len() - k..]))
    })
}

fn ends_with(labels: &[&str], tail: &[&str]) -> bool {
    labels.len() > tail.len() && labels[labels.len() - tail.len()..] == *tail
}

fn platform_clue(labels: &[&str]) -> Option<&'static str> {
    // (The last label first: most names end in none of these.)
    match labels[labels.len() - 1] {
        "live" | "app"
            if ends_with(labels, &["gradio", "live"]) || ends_with(labels, &["gradio", "app"]) =>
        {
            Some("platform-gradio")
        }
        "run" if ends_with(labels, &["modal", "run"]) => Some("platform-modal"),
        "net" if ends_with(labels, &["proxy", "runpod", "net"]) => Some("platform-runpod"),
        "com" if ends_with(labels, &["inference", "ml", "azure", "com"]) => {
            Some("platform-azure-ml")
        }
        "com"
            if labels.len() == 5
                && labels[0] == "runtime"
                && labels[1] == "sagemaker"
                && labels[3] == "amazonaws" =>
        {
            Some("platform-sagemaker")
        }
        _ => None,
    }
}

/// For each byte, the keywords (bits: indexes in [`KEYWORDS`]) that start
/// with it: a label is scanned once, and at each byte only the keywords
/// starting with it are compared (most names have no clue: their cost is a
/// table look-up per byte and a comparison or two at a few of them).
const fn keyword_index() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < KEYWORDS.len() {
        t[KEYWORDS[i].0.as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    t
}
static KEYWORD_INDEX: [u32; 256] = keyword_index();
const _: () = assert!(KEYWORDS.len() <= 32);

/// Is `i` a word boundary of a label (its edge, or next to `-`/`_`)?
fn boundary(b: &[u8], i: usize) -> bool {
    i == 0 || i == b.len() || matches!(b[i - 1], b'-' | b'_') || matches!(b[i], b'-' | b'_')
}

fn keyword_clue(labels: &[&str]) -> Option<&'static str> {
    // (The top-level domain is not a word of the name.) In a label holding
    // several keywords, the first of the list wins.
    for l in &labels[..labels.len() - 1] {
        let b = l.as_bytes();
        let mut best = usize::MAX;
        for i in 0..b.len() {
            let mut set = KEYWORD_INDEX[b[i] as usize];
            while set != 0 {
                let k = set.trailing_zeros() as usize;
                set &= set - 1;
                if k >= best {
                    break;
                }
                let (word, _, whole) = KEYWORDS[k];
                let w = word.as_bytes();
                let end = i + w.len();
                // (The second byte first: most starts stop there.)
                if b.get(i + 1) == Some(&w[1])
                    && b[i..].starts_with(w)
                    && (!whole
                        || ((i == 0 || matches!(b[i - 1], b'-' | b'_'))
                            && (end == b.len() || matches!(b[end], b'-' | b'_'))))
                {
                    best = k;
                    break;
                }
            }
        }
        if let Some(&(_, clue, _)) = KEYWORDS.get(best) {
            return Some(clue);
        }
    }
    None
}

fn label_ai_clue(labels: &[&str]) -> Option<&'static str> {
    for l in &labels[..labels.len() - 1] {
        let b = l.as_bytes();
        let mut any = false;
        for i in 0..b.len().saturating_sub(1) {
            if b[i] == b'a' && b[i + 1] == b'i' {
                any = true;
                // `ai` as a part of the label (`chat-ai`, `ai_tools`, `ai`).
                if boundary(b, i) && boundary(b, i + 2) {
                    return Some("label-ai");
                }
            }
        }
        if !any {
            continue;
        }
        // `ai` joined to a word (`aichat`, `musicai`).
        let joined = |w: &str| AI_WORDS.contains(&w);
        if l.strip_prefix("ai").is_some_and(joined) || l.strip_suffix("ai").is_some_and(joined) {
            return Some("label-ai");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        crate::testutil::catalog_of(&[(
            "chatgpt",
            &[
                "chatgpt.com",
                "*.chatgpt.com",
                "*.claude.ai",
                "huggingface.co",
                "perplexity.ai",
                "gemini.google.com",
            ],
        )])
    }

    fn clue(n: &str) -> Option<&'static str> {
        super::clue(&cat(), n)
    }

    #[test]
    fn positives() {
        for (n, want) in [
            ("abc123.gradio.live", "platform-gradio"),
            ("myapp.gradio.app", "platform-gradio"),
            ("user--app-serve.modal.run", "platform-modal"),
            ("x7y8z9-8888.proxy.runpod.net", "platform-runpod"),
            (
                "my-endpoint.westeurope.inference.ml.azure.com",
                "platform-azure-ml",
            ),
            (
                "runtime.sagemaker.eu-west-1.amazonaws.com",
                "platform-sagemaker",
            ),
            ("notegpt.io", "keyword-gpt"),
            ("gptunnel.ru", "keyword-gpt"),
            ("api.gpt-proxy.cn", "keyword-gpt"),
            ("llm.corp.example", "keyword-llm"),
            ("open-llm.org", "keyword-llm"),
            ("genai.example.com", "keyword-genai"),
            ("aigc.example.cn", "keyword-aigc"),
            ("copilot.example.net", "keyword-copilot"),
            ("mychatbot.io", "keyword-chatbot"),
            ("openai-proxy.example.com", "keyword-openai"),
            ("llamaindex.io", "keyword-llama"),
            ("stablediffusionweb.com", "keyword-diffusion"),
            ("comfyuiweb.com", "keyword-comfyui"),
            ("agenticflow.io", "keyword-agentic"),
            ("mcp.notion.com", "keyword-mcp"),
            ("rag-api.example.com", "keyword-rag"),
            ("ai.example.com", "label-ai"),
            ("chat-ai.example.net", "label-ai"),
            ("aichat.example.org", "label-ai"),
            ("musicai.example.org", "label-ai"),
            ("somestartup.ai", "tld-ai"),
            ("app.somestartup.ai", "tld-ai"),
            ("SomeStartup.AI.", "tld-ai"),
        ] {
            assert_eq!(clue(n), Some(want), "{n}");
        }
    }

    #[test]
    fn negatives() {
        for n in [
            // Ordinary names, words that contain the short keywords.
            "www.google.com",
            "fullmoon.example.com",
            "skillmatch.io",
            "storage.example.com",
            "drag.example.com",
            "dubai.example.com",
            "mumbai.gov.in",
            "shanghai.example.cn",
            "bonsai.example.com",
            "airline.example.com",
            "aid.example.org",
            "fontawesome.com",
            "detectportal.firefox.com",
            "translate.googleapis.com",
            "gemini.com",
            "www.thai.example",
            // Lookalikes of catalog names.
            "chatgpt.com.evil.example",
            "claude.ai.cdn-example.net",
            "notchatgpt.com",
            "chatgptfree.ai",
            "chatgpt-free.xyz",
            "notclaude.ai",
            "fakeperplexity.ai",
            "myhuggingface.co",
            "perplexity.ai.example.com",
            "notperplexity.ai",
            "fake-claude.ai",
            // Addresses and bare words.
            "10.0.0.1",
            "[2001:db8::1]",
            "gpt\x1b[31m.example.com",
            "gpt example.com",
            "2001:db8::1",
            "localhost",
            "ai",
            "",
        ] {
            assert_eq!(clue(n), None, "{n}");
        }
        // The catalog's own names are AI use, not candidates (the caller
        // asks only for names that match nothing) — but a name of the
        // catalog is never a lookalike of itself either.
        let deep = format!("{}gpt.example.com", "a.".repeat(MAX_LABELS));
        assert_eq!(clue(&deep), None);
        assert_eq!(clue(&"x".repeat(300)), None);
    }

    proptest::proptest! {
        /// Any name, hostile bytes included: no panic, and a clue only for
        /// host-name characters.
        #[test]
        fn any_name(name in "[ -~\\PC]{0,300}") {
            let c = cat();
            if let Some(clue) = super::clue(&c, &name) {
                proptest::prop_assert!(CLUES.contains(&clue));
                proptest::prop_assert!(name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
            }
        }
    }

    #[test]
    fn every_clue_is_listed() {
        for (_, c, _) in KEYWORDS {
            assert!(CLUES.contains(c), "{c}");
        }
    }
}
