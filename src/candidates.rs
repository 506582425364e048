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
//! `myhuggingface.co`, `chatgpt-free.xyz`): typo-squatting and phishing are
//! far more common under such names than new AI services.
//!
//! Work per name is bounded: at most [`MAX_LABELS`] labels are looked at,
//! each keyword test is linear in the label, and the lookalike test costs
//! one catalog lookup per label plus two brand lookups per label position.

use crate::signatures::{registrable_len, Catalog};

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
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 || !name.contains('.') {
        return None;
    }
    let mut buf = [0u8; 253];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    // (Host names only: letters, digits, `-`, `_`; IDNs are punycode on the
    // wire. Nothing else reaches a report as a candidate. All digits: an
    // IPv4 address.)
    if !lower
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || lower.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return None;
    }
    let mut labels: [&str; MAX_LABELS] = [""; MAX_LABELS];
    let mut n = 0;
    for l in lower.split('.') {
        if n == MAX_LABELS || l.is_empty() {
            return None;
        }
        labels[n] = l;
        n += 1;
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
    std::iter::once(label)
        .chain(label.split(['-', '_']))
        .any(|part| affixed_vendor_label(cat, part))
}

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
    if ends_with(labels, &["gradio", "live"]) || ends_with(labels, &["gradio", "app"]) {
        return Some("platform-gradio");
    }
    if ends_with(labels, &["modal", "run"]) {
        return Some("platform-modal");
    }
    if ends_with(labels, &["proxy", "runpod", "net"]) {
        return Some("platform-runpod");
    }
    if ends_with(labels, &["inference", "ml", "azure", "com"]) {
        return Some("platform-azure-ml");
    }
    let n = labels.len();
    if n == 5
        && labels[0] == "runtime"
        && labels[1] == "sagemaker"
        && ends_with(labels, &["amazonaws", "com"])
    {
        return Some("platform-sagemaker");
    }
    None
}

fn keyword_clue(labels: &[&str]) -> Option<&'static str> {
    // (The top-level domain is not a word of the name.)
    for l in &labels[..labels.len() - 1] {
        for &(word, clue, whole) in KEYWORDS {
            let hit = if whole {
                l.split(['-', '_']).any(|p| p == word)
            } else {
                l.contains(word)
            };
            if hit {
                return Some(clue);
            }
        }
    }
    None
}

fn label_ai_clue(labels: &[&str]) -> Option<&'static str> {
    for l in &labels[..labels.len() - 1] {
        if l.split(['-', '_']).any(|p| p == "ai") {
            return Some("label-ai");
        }
        let joined = |w: &str| l.strip_prefix("ai") == Some(w) || l.strip_suffix("ai") == Some(w);
        if AI_WORDS.iter().any(|w| joined(w)) {
            return Some("label-ai");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        let t = r#"
[[service]]
id = "chatgpt"
name = "ChatGPT"
vendor = "OpenAI"
category = "chat"
country = "US"
domains = ["chatgpt.com", "*.chatgpt.com", "*.claude.ai", "huggingface.co", "perplexity.ai", "gemini.google.com"]
source = "https://example.org"
"#;
        Catalog::from_sources(&[("t.toml".into(), t.into())]).unwrap()
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

    #[test]
    fn every_clue_is_listed() {
        for (_, c, _) in KEYWORDS {
            assert!(CLUES.contains(c), "{c}");
        }
    }
}
