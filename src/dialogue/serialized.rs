//! The durable content's JSON, kept in pieces: every block of every sequence serialized on its
//! own and reused until a revision touches it. After a revision, a reader's `GET` (or a
//! `welcome`) serializes only the blocks that revision changed and copies the rest, so its cost
//! does not grow with the dialogue: a patch on one block of a 1 MiB dialogue re-serializes that
//! block, not the megabyte. The output is byte for byte what `serde_json` writes for the whole
//! content (compact, keys in map order); a property test holds it to that.
//!
//! A render is a [`ContentJson`]: the cached pieces themselves, shared, not copied into one
//! string. The actor renders (cheap: only changed blocks are serialized) and the request's own
//! thread joins the pieces into its answer, so a `GET` of a megabyte costs the dialogue's actor
//! no megabyte of copying.

use std::fmt::Write as _;
use std::sync::Arc;

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

/// The pieces of one sequence: its blocks' JSON, by index (`None`: to serialize again).
type Blocks = Vec<Option<Arc<str>>>;

/// A dialogue's content as JSON text, in shared pieces: cloning it copies no text, and the
/// text is joined where it is written out.
#[derive(Debug, Clone)]
pub struct ContentJson {
    pieces: Arc<[Piece]>,
    len: usize,
}

/// A piece of rendered content.
#[derive(Debug)]
enum Piece {
    /// Text of its own (keys, fields other than blocks, brackets).
    Text(Box<str>),
    /// A blocks array's blocks, to be written separated by commas.
    Blocks(Box<[Arc<str>]>),
}

impl ContentJson {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never, for a rendered content).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text, joined into one string.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(self.len);
        self.write_to(&mut text);
        text
    }

    /// Appends the text to `out`.
    pub fn write_to(&self, out: &mut String) {
        out.reserve(self.len);
        for piece in self.pieces.iter() {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Blocks(blocks) => {
                    for (i, block) in blocks.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(block);
                    }
                }
            }
        }
    }
}

impl From<String> for ContentJson {
    fn from(text: String) -> Self {
        let len = text.len();
        Self { pieces: Arc::from([Piece::Text(text.into_boxed_str())]), len }
    }
}

/// Builds a [`ContentJson`]: text goes into the current piece, a blocks array into one of its own.
#[derive(Default)]
struct Builder {
    pieces: Vec<Piece>,
    text: String,
    len: usize,
}

impl Builder {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn push_blocks(&mut self, blocks: Box<[Arc<str>]>) {
        self.flush();
        self.len += blocks.iter().map(|block| block.len()).sum::<usize>() + blocks.len().saturating_sub(1);
        self.pieces.push(Piece::Blocks(blocks));
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.len += self.text.len();
            self.pieces.push(Piece::Text(std::mem::take(&mut self.text).into_boxed_str()));
        }
    }

    fn finish(mut self) -> ContentJson {
        self.flush();
        ContentJson { pieces: self.pieces.into(), len: self.len }
    }
}

impl std::fmt::Write for Builder {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.push(text);
        Ok(())
    }
}

/// The cached pieces of a dialogue's content.
#[derive(Debug, Default, Clone)]
pub struct SerializedContent {
    /// Per sequence, its blocks' pieces; `None` when the sequences' shape is unknown (at first,
    /// and after a change to the list of sequences).
    sequences: Option<Vec<Option<Blocks>>>,
}

impl SerializedContent {
    /// Forgets what `patch` (applied to the content since the last render) changed.
    pub fn forget(&mut self, patch: &Patch) {
        for operation in patch.iter() {
            let (path, from) = match operation {
                PatchOperation::Test(_) => continue,
                PatchOperation::Move(op) => (op.path.as_str(), Some(op.from.as_str())),
                PatchOperation::Copy(op) => (op.path.as_str(), None),
                other => (other.path().as_str(), None),
            };
            let replace = matches!(operation, PatchOperation::Replace(_));
            self.forget_path(path, replace);
            if let Some(from) = from {
                self.forget_path(from, false);
            }
        }
    }

    /// Forgets what a write at `path` changed; `replace` when it keeps the array's shape.
    fn forget_path(&mut self, path: &str, replace: bool) {
        let tokens: Vec<&str> = path.split('/').skip(1).collect();
        if tokens.is_empty() {
            self.sequences = None; // The whole content.
            return;
        }
        if tokens.first() != Some(&"sequences") {
            return; // Title, archived flag: not cached.
        }
        let Some(sequences) = self.sequences.as_mut() else { return };
        let sequence = tokens.get(1).and_then(|token| index(token));
        let Some(sequence) = sequence.filter(|i| *i < sequences.len() && tokens.len() >= 3) else {
            // The list of sequences itself, or one whole sequence: its shape may have changed.
            if tokens.len() == 2
                && replace
                && let Some(i) = sequence.filter(|i| *i < sequences.len())
            {
                sequences[i] = None;
            } else {
                self.sequences = None;
            }
            return;
        };
        if tokens[2] != "blocks" {
            return; // Another field of the sequence: serialized every time.
        }
        let block = tokens.get(3).and_then(|token| index(token));
        match (&mut sequences[sequence], block) {
            (Some(blocks), Some(block)) if block < blocks.len() && (tokens.len() > 4 || replace) => {
                blocks[block] = None;
            }
            (slot, _) => *slot = None,
        }
    }

    /// The JSON of `content` (the value this cache has followed), serializing only the pieces
    /// it lacks.
    pub fn render(&mut self, content: &Value) -> ContentJson {
        let sequences = content.get("sequences").and_then(Value::as_array);
        let cached = self.sequences.get_or_insert_with(Vec::new);
        let count = sequences.map_or(0, Vec::len);
        if cached.len() != count {
            *cached = vec![None; count];
        }
        let Value::Object(fields) = content else { return ContentJson::from(content.to_string()) };
        let mut out = Builder::default();
        out.push("{");
        for (n, (key, value)) in fields.iter().enumerate() {
            if n > 0 {
                out.push(",");
            }
            push_key(&mut out, key);
            match (key.as_str(), sequences) {
                ("sequences", Some(sequences)) => render_sequences(&mut out, sequences, cached),
                _ => push_value(&mut out, value),
            }
        }
        out.push("}");
        out.finish()
    }
}

fn render_sequences(out: &mut Builder, sequences: &[Value], cached: &mut [Option<Blocks>]) {
    out.push("[");
    for (i, sequence) in sequences.iter().enumerate() {
        if i > 0 {
            out.push(",");
        }
        let (Value::Object(fields), Some(blocks)) = (sequence, sequence.get("blocks").and_then(Value::as_array)) else {
            cached[i] = None;
            push_value(out, sequence);
            continue;
        };
        let pieces = cached[i].get_or_insert_with(Vec::new);
        if pieces.len() != blocks.len() {
            *pieces = vec![None; blocks.len()];
        }
        out.push("{");
        for (n, (key, value)) in fields.iter().enumerate() {
            if n > 0 {
                out.push(",");
            }
            push_key(out, key);
            if key != "blocks" {
                push_value(out, value);
                continue;
            }
            out.push("[");
            let shared = blocks
                .iter()
                .zip(pieces.iter_mut())
                .map(|(block, piece)| piece.get_or_insert_with(|| Arc::from(block.to_string())).clone())
                .collect();
            out.push_blocks(shared);
            out.push("]");
        }
        out.push("}");
    }
    out.push("]");
}

fn push_key(out: &mut Builder, key: &str) {
    let _ = write!(out, "{}:", Value::String(key.to_owned()));
}

fn push_value(out: &mut Builder, value: &Value) {
    let _ = write!(out, "{value}");
}

/// A token that is an array index.
fn index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sample(sequences: usize, blocks: usize) -> Value {
        let sequences: Vec<Value> = (0..sequences)
            .map(|s| {
                let blocks: Vec<Value> = (0..blocks)
                    .map(|b| json!({ "id": format!("b{s}-{b}"), "type": "message", "properties": { "text": "t\"é" } }))
                    .collect();
                json!({ "id": format!("s{s}"), "title": "S", "blocks": blocks })
            })
            .collect();
        json!({ "title": "T", "is_archived": false, "sequences": sequences })
    }

    /// One random operation on the dialogue's shape: sequences and blocks added, removed,
    /// replaced, moved, edited inside.
    fn operation() -> impl Strategy<Value = (u8, usize, usize, usize, usize)> {
        (0u8..9, 0usize..4, 0usize..6, 0usize..4, 0usize..6)
    }

    fn to_patch(content: &Value, (kind, s, b, s2, b2): (u8, usize, usize, usize, usize)) -> Option<Value> {
        let sequences = content["sequences"].as_array()?.len();
        let blocks_in = |s: usize| content["sequences"][s]["blocks"].as_array().map_or(0, Vec::len);
        let block = json!({ "id": "new", "type": "end", "properties": { "text": "x" } });
        let have_block = s < sequences && b < blocks_in(s);
        let patch = match kind {
            0 if have_block => {
                json!([{ "op": "replace", "path": format!("/sequences/{s}/blocks/{b}/properties/text"), "value": "edited" }])
            }
            1 if s < sequences && b <= blocks_in(s) => {
                json!([{ "op": "add", "path": format!("/sequences/{s}/blocks/{b}"), "value": block }])
            }
            2 if have_block => json!([{ "op": "remove", "path": format!("/sequences/{s}/blocks/{b}") }]),
            3 if have_block => {
                json!([{ "op": "replace", "path": format!("/sequences/{s}/blocks/{b}"), "value": block }])
            }
            4 if have_block && s2 < sequences && b2 <= blocks_in(s2) - usize::from(s == s2) => {
                json!([{ "op": "move", "from": format!("/sequences/{s}/blocks/{b}"), "path": format!("/sequences/{s2}/blocks/{b2}") }])
            }
            5 if s <= sequences => {
                json!([{ "op": "add", "path": format!("/sequences/{s}"), "value": { "id": "ns", "title": "N", "blocks": [block] } }])
            }
            6 if s < sequences => json!([{ "op": "remove", "path": format!("/sequences/{s}") }]),
            7 if b == 0 => json!([{ "op": "replace", "path": "", "value": sample(2, s + 1) }]),
            7 => json!([{ "op": "replace", "path": "/title", "value": "Retitled" }]),
            8 if s < sequences => json!([{ "op": "add", "path": format!("/sequences/{s}/blocks/-"), "value": block }]),
            _ => return None,
        };
        Some(patch)
    }

    #[test]
    fn a_render_is_what_serde_json_writes() {
        let content = sample(2, 3);
        let rendered = SerializedContent::default().render(&content);
        assert_eq!(rendered.text(), content.to_string());
        assert_eq!(rendered.len(), content.to_string().len());
        let mut out = String::from("before:");
        rendered.write_to(&mut out);
        assert_eq!(out, format!("before:{content}"));
        // Blocks arrays of one block and of none are written without stray commas.
        for content in [sample(1, 1), sample(2, 0), json!({ "title": "T" }), json!({})] {
            assert_eq!(SerializedContent::default().render(&content).text(), content.to_string());
        }
    }

    proptest! {
        #[test]
        fn after_any_patches_a_render_is_what_serde_json_writes(operations in proptest::collection::vec(operation(), 1..25)) {
            let mut value = sample(3, 4);
            let mut cache = SerializedContent::default();
            prop_assert_eq!(cache.render(&value).text(), value.to_string());
            for operation in operations {
                let Some(patch) = to_patch(&value, operation) else { continue };
                let patch: Patch = serde_json::from_value(patch).unwrap();
                json_patch::patch(&mut value, &patch).unwrap();
                cache.forget(&patch);
                let rendered = cache.render(&value);
                prop_assert_eq!(rendered.text(), value.to_string());
                prop_assert_eq!(rendered.len(), value.to_string().len());
            }
        }
    }
}
