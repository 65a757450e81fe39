//! big: hot editing of a large dialogue (about 1 MiB of JSON by default) while one REST client
//! reads it in a loop; and the builder of such a dialogue. Run at two sizes in one sitting, it
//! shows what the size alone costs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};

use super::hot::{open_editors, run_editors};
use super::{Run, Samples};
use crate::stats::{Recorder, micros};

/// Blocks per sequence the dialogue schema allows (`maxItems`).
const MAX_BLOCKS_PER_SEQUENCE: usize = 1000;
/// Sequences per dialogue the dialogue schema allows (`maxItems`).
const MAX_SEQUENCES: usize = 1000;
/// Length of a filler block's text (a message's text may have 1,600 characters).
const FILLER_TEXT_CHARS: usize = 1000;
/// What filler texts are cut from.
const FILLER_SENTENCE: &str = "Thank you for calling. Please reply with the number of the service you need. ";

/// A dialogue description (`title` and `sequences`, as `POST …/dialogues/` takes it) whose JSON
/// is about `target_bytes` long: the first sequence starts with `editor_blocks` short message
/// blocks `b0`, `b1`, … (the ones the editors replace, as in `hot`), followed by filler message
/// blocks with long texts, 1,000 blocks per sequence, the last one trimmed so the size lands
/// within about a hundred bytes of the target. A target below the editors' blocks gives just
/// those.
pub fn big_dialogue(editor_blocks: usize, target_bytes: usize) -> Value {
    let message = |id: String, text: String| json!({ "id": id, "type": "message", "properties": { "text": text } });
    let mut sequences: Vec<Vec<Value>> =
        vec![(0..editor_blocks).map(|i| message(format!("b{i}"), "t".into())).collect()];
    let size_of = |sequences: &[Vec<Value>]| serde_json::to_vec(&description(sequences)).map_or(0, |bytes| bytes.len());
    let mut size = size_of(&sequences);
    let mut filler = 0usize;
    while size < target_bytes {
        if sequences.last().is_some_and(|blocks| blocks.len() >= MAX_BLOCKS_PER_SEQUENCE) {
            if sequences.len() >= MAX_SEQUENCES {
                break;
            }
            sequences.push(Vec::new());
            size = size_of(&sequences);
        }
        // What this block adds besides its text: its JSON, and a comma unless it is the first.
        let id = format!("f{filler}");
        let empty = message(id.clone(), String::new());
        let comma = usize::from(sequences.last().is_some_and(|blocks| !blocks.is_empty()));
        let overhead = serde_json::to_vec(&empty).map_or(0, |bytes| bytes.len()) + comma;
        let remaining = target_bytes - size;
        if remaining <= overhead {
            break;
        }
        let text = filler_text((remaining - overhead).min(FILLER_TEXT_CHARS));
        size += overhead + text.len();
        sequences.last_mut().expect("at least one sequence").push(message(id, text));
        filler += 1;
    }
    description(&sequences)
}

/// `{title, sequences}` with the first sequence called `start` and the others `s1`, `s2`, ….
fn description(sequences: &[Vec<Value>]) -> Value {
    let sequences: Vec<Value> = sequences
        .iter()
        .enumerate()
        .map(|(index, blocks)| {
            let (id, title) = if index == 0 {
                ("start".to_owned(), "Start".to_owned())
            } else {
                (format!("s{index}"), format!("Part {index}"))
            };
            json!({ "id": id, "title": title, "blocks": blocks })
        })
        .collect();
    json!({ "title": "Big", "sequences": sequences })
}

/// `chars` characters of filler (ASCII, so as many bytes).
fn filler_text(chars: usize) -> String {
    FILLER_SENTENCE.chars().cycle().take(chars).collect()
}

/// big: `editors` editors on a dialogue of about `dialogue_bytes` bytes (see [`big_dialogue`]),
/// editing as in `hot` (closed loop, or open loop at `rate` patches/s in all), while one REST
/// client GETs the whole dialogue in a loop.
pub async fn big(run: Arc<Run>, editors: usize, rate: f64, dialogue_bytes: usize) -> anyhow::Result<Samples> {
    let project = run.api.project("big").await?;
    let body = big_dialogue(editors.max(1), dialogue_bytes);
    let size = serde_json::to_vec(&body)?.len();
    let dialogue = run.api.create_dialogue(&project, &body).await?;
    drop(body);
    let clients = open_editors(&run, &project, &dialogue, editors, &[run.api.base.as_str()]).await?;
    run.start_measuring().await;
    let path = format!("{}/projects/{project}/dialogues/{dialogue}", run.api.base);
    let reader = tokio::spawn(read_in_a_loop(run.clone(), path));
    let mut samples = run_editors(run, clients, rate, 1).await?;
    samples.merge(reader.await?);
    samples.dialogue_bytes = Some(size as u64);
    Ok(samples)
}

/// One REST client GETting `url` until the deadline; the latencies go to `get`.
async fn read_in_a_loop(run: Arc<Run>, url: String) -> Samples {
    let mut samples = Samples { get: Some(Recorder::default()), ..Samples::default() };
    while Instant::now() < run.deadline {
        let started = Instant::now();
        let answered = match run.api.http.get(&url).bearer_auth(&run.api.token).send().await {
            Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
            _ => false,
        };
        if answered {
            run.counters.requests.fetch_add(1, Ordering::Relaxed);
            if let Some(h) = samples.get.as_mut() {
                h.record(micros(started.elapsed()));
            }
        } else {
            run.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(value: &Value) -> usize {
        serde_json::to_vec(value).unwrap().len()
    }

    #[test]
    fn the_big_dialogue_lands_on_its_size() {
        for target in [2_000, 100_000, 1 << 20, 1_500_000] {
            let dialogue = big_dialogue(2, target);
            let actual = size(&dialogue);
            assert!(actual.abs_diff(target) < 100, "asked {target}, got {actual}");
        }
    }

    #[test]
    fn the_big_dialogue_keeps_within_the_schema_limits() {
        let dialogue = big_dialogue(200, 1 << 20);
        let sequences = dialogue["sequences"].as_array().unwrap();
        assert!(sequences.len() >= 2, "1 MiB needs more than 1,000 blocks of 1,000 characters");
        for sequence in sequences {
            let blocks = sequence["blocks"].as_array().unwrap();
            assert!(blocks.len() <= MAX_BLOCKS_PER_SEQUENCE);
            for block in blocks {
                let text = block["properties"]["text"].as_str().unwrap();
                assert!((1..=1600).contains(&text.len()), "{text}");
            }
        }
        // The editors' blocks come first, as in hot.
        let first = &sequences[0]["blocks"];
        assert_eq!(first[0]["id"], "b0");
        assert_eq!(first[199]["id"], "b199");
        assert_eq!(first[200]["id"], "f0");
    }

    #[test]
    fn a_small_target_gives_the_editors_blocks_only() {
        let dialogue = big_dialogue(4, 10);
        assert_eq!(dialogue["sequences"][0]["blocks"].as_array().unwrap().len(), 4);
    }
}
