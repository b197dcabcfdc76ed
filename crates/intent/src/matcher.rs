//! Phrase matching over the token stream and the decision rules of one language.
//!
//! Each language keeps one trie over word ids. For every token of a sentence the trie is walked
//! forward (at most [`crate::lang::MAX_PHRASE_WORDS`] steps), which finds every phrase of every
//! list that starts there: linear in the sentence length. Sentences are capped at
//! [`crate::tokenize::MAX_SENTENCE_TOKENS`] tokens, so the rules below, which compare the matches
//! of one sentence with each other, cost a bounded amount per sentence.
//!
//! A sentence yields a hit for a document term D when there is a request trigger T such that:
//! 1. T is a request verb licensed as a request: a cue (`please`, `could you`, `por favor`) ends
//!    at most `cue_window` words before it, or it opens a clause (sentence start, after a comma,
//!    or on a new capitalised line), possibly after openers (`also`, `then`, `y`), and is not a
//!    label (`Reply-To:`, `Email:`); or T is a
//!    standalone request (`we need your`, `necesitamos su`);
//! 2. D starts after T, at most `window` words after it (or after an earlier document of the same
//!    request: "your name, date of birth and the last four digits of your SSN"), and no stop phrase (`to verify`,
//!    `so that`, `para que`) lies between them; D is not inside a `not_documents` phrase
//!    (`license key`) nor inside a longer document term;
//! 3. no negation ends within `negation_window` words before T, unless a contrast word (`but`,
//!    `pero`) lies between, or the negation is part of a longer cue (`don't forget to`), or — for
//!    ordinary negations, not `sentence_wide` ones — a clause break lies between;
//! 4. the sentence has no discussion phrase (`asked customers to`, `scammers`);
//! 5. channels: an upload verb needs an e-mail word (`reply`, `email it back`) in the sentence,
//!    and a safe channel (`portal`, `secure link`) without an e-mail word suppresses the request.

use crate::tokenize::{F_LABEL, FastMap, Tok};

/// What a phrase means; a phrase may appear in several lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Verb,
    Upload,
    Standalone,
    Cue,
    Negation,
    StrongNegation,
    Contrast,
    Discussion,
    Stop,
    Email,
    Safe,
    NotDocument,
    /// Index into [`crate::lang::CATEGORIES`].
    Document(usize),
}

/// Phrase trie over word ids.
#[derive(Debug, Clone)]
pub(crate) struct Trie {
    /// `(node << 32) | word id` → child node.
    edges: FastMap<u64, u32>,
    /// Kinds of the phrases that end at each node.
    terminals: Vec<Vec<Kind>>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            edges: FastMap::default(),
            terminals: vec![Vec::new()],
        }
    }
}

impl Trie {
    pub(crate) fn insert(&mut self, ids: &[u32], kind: Kind) {
        let mut node = 0u32;
        for &id in ids {
            let key = (u64::from(node) << 32) | u64::from(id);
            node = match self.edges.get(&key) {
                Some(&child) => child,
                None => {
                    let child = u32::try_from(self.terminals.len()).unwrap_or(u32::MAX);
                    self.terminals.push(Vec::new());
                    self.edges.insert(key, child);
                    child
                }
            };
        }
        if let Some(t) = self.terminals.get_mut(node as usize)
            && !t.contains(&kind)
        {
            t.push(kind);
        }
    }

    pub(crate) fn has(&self, kind: Kind) -> bool {
        self.terminals.iter().any(|t| t.contains(&kind))
    }

    /// Appends every phrase occurrence in `toks`.
    fn find_all(&self, toks: &[Tok], out: &mut Vec<Match>) {
        for s in 0..toks.len() {
            let mut node = 0u32;
            for (e, tok) in toks.iter().enumerate().skip(s) {
                if tok.id == 0 {
                    break;
                }
                let key = (u64::from(node) << 32) | u64::from(tok.id);
                let Some(&child) = self.edges.get(&key) else {
                    break;
                };
                node = child;
                if let Some(kinds) = self.terminals.get(node as usize) {
                    for &kind in kinds {
                        out.push(Match { kind, s, e: e + 1 });
                    }
                }
            }
        }
    }
}

/// A phrase occurrence: token range `s..e` of the sentence.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Match {
    kind: Kind,
    s: usize,
    e: usize,
}

/// One language's compiled lists and settings.
#[derive(Debug, Clone)]
pub(crate) struct Language {
    pub(crate) code: String,
    pub(crate) window: usize,
    pub(crate) cue_window: usize,
    pub(crate) negation_window: usize,
    pub(crate) trie: Trie,
    pub(crate) openers: FastMap<u32, ()>,
    pub(crate) possessives: FastMap<u32, ()>,
    /// Word ids that begin a document term.
    pub(crate) doc_first: Vec<u32>,
    /// Folded words of every document term.
    pub(crate) doc_terms: Vec<Vec<String>>,
}

/// A request for a document found in one sentence (token indices into the sentence).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub(crate) category: usize,
    /// First token of the request (the cue, or the verb).
    pub(crate) start: usize,
    pub(crate) doc_start: usize,
    pub(crate) doc_end: usize,
    pub(crate) confidence: f32,
}

impl Language {
    /// Applies the rules of the module documentation to one sentence.
    pub(crate) fn evaluate(&self, toks: &[Tok], m: &mut Vec<Match>, out: &mut Vec<Hit>) {
        m.clear();
        self.trie.find_all(toks, m);
        let m = &*m;
        let any = |k: Kind| m.iter().any(|x| x.kind == k);
        if !m.iter().any(|x| matches!(x.kind, Kind::Document(_))) || any(Kind::Discussion) {
            return;
        }
        // An e-mail word counts unless negated right before it ("through the portal, not by
        // email").
        let email = m.iter().any(|x| {
            x.kind == Kind::Email
                && !m.iter().any(|n| {
                    matches!(n.kind, Kind::Negation | Kind::StrongNegation)
                        && n.e <= x.s
                        && x.s - n.e <= 2
                })
        });
        let safe = any(Kind::Safe);
        // Everything that does not depend on the request is computed once per sentence, so the
        // rules below stay near-linear even in a sentence made of nothing but phrases.
        let n_toks = toks.len();
        // Clause breaks: prefix counts over tokens.
        let mut breaks = Vec::with_capacity(n_toks + 1);
        breaks.push(0u32);
        for t in toks {
            let last = *breaks.last().unwrap_or(&0);
            breaks.push(last + u32::from(t.breaks_clause()));
        }
        // Contrast words: for each token position, the smallest end of a contrast starting there
        // or later.
        let mut contrast_min_end = vec![usize::MAX; n_toks + 2];
        for c in m.iter().filter(|c| c.kind == Kind::Contrast) {
            if c.s < contrast_min_end.len() {
                contrast_min_end[c.s] = contrast_min_end[c.s].min(c.e);
            }
        }
        for i in (0..n_toks + 1).rev() {
            contrast_min_end[i] = contrast_min_end[i].min(contrast_min_end[i + 1]);
        }
        // Negations that are not part of a longer cue ("don't forget to").
        let negations: Vec<&Match> = m
            .iter()
            .filter(|n| matches!(n.kind, Kind::Negation | Kind::StrongNegation))
            .filter(|n| {
                !m.iter().any(|c| {
                    c.kind == Kind::Cue && c.s <= n.s && c.e >= n.e && c.e - c.s > n.e - n.s
                })
            })
            .collect();
        // Stop phrases, by start.
        let mut stops: Vec<usize> = m
            .iter()
            .filter(|x| x.kind == Kind::Stop)
            .map(|x| x.s)
            .collect();
        stops.sort_unstable();
        // Documents that count: not inside a longer document term, not a `not_documents` phrase.
        let documents: Vec<(usize, &Match)> = m
            .iter()
            .filter_map(|d| match d.kind {
                Kind::Document(category) => Some((category, d)),
                _ => None,
            })
            .filter(|(_, d)| {
                let inside_longer = m.iter().any(|o| {
                    matches!(o.kind, Kind::Document(_))
                        && o.s <= d.s
                        && o.e >= d.e
                        && o.e - o.s > d.e - d.s
                });
                let excluded = m
                    .iter()
                    .any(|x| x.kind == Kind::NotDocument && x.s < d.e && d.s < x.e);
                !inside_longer && !excluded
            })
            .collect();
        let cues: Vec<&Match> = m.iter().filter(|c| c.kind == Kind::Cue).collect();
        let negated = |first: usize, verb: usize| {
            negations.iter().any(|n| {
                if n.e > verb {
                    return false;
                }
                let anchor = if n.e <= first { first } else { verb };
                if anchor - n.e > self.negation_window {
                    return false;
                }
                let contrast = contrast_min_end.get(n.e).is_some_and(|&e| e <= verb);
                if contrast {
                    return false;
                }
                let hi = (verb + 1).min(n_toks);
                let clause_break = n.e < hi && breaks[hi] > breaks[n.e];
                !(n.kind == Kind::Negation && clause_break)
            })
        };
        for t in m {
            if !matches!(t.kind, Kind::Verb | Kind::Upload | Kind::Standalone) {
                continue;
            }
            if (t.kind == Kind::Upload || safe) && !email {
                continue;
            }
            let (start, mut base) = if t.kind == Kind::Standalone {
                (t.s, 0.85f32)
            } else if let Some(cue) = cues
                .iter()
                .filter(|c| c.e <= t.s && t.s - c.e <= self.cue_window)
                .min_by_key(|c| t.s - c.e)
            {
                (cue.s, 0.9)
            } else if self.clause_initial(toks, t.s)
                && toks.get(t.e - 1).is_some_and(|k| k.flags & F_LABEL == 0)
            {
                (t.s, 0.75)
            } else {
                continue;
            };
            if t.kind == Kind::Upload {
                base -= 0.05;
            }
            if negated(start.min(t.s), t.s) {
                continue;
            }
            let stop = stops
                .get(stops.partition_point(|&s| s < t.e))
                .copied()
                .unwrap_or(usize::MAX);
            // A list of documents may run past the window: each document found extends it.
            let mut limit = t.e + self.window;
            for &(category, d) in &documents {
                if d.s < t.e || d.s > limit || d.s >= stop {
                    continue;
                }
                limit = limit.max(d.e + self.window);
                let possessive = (d.s.saturating_sub(3).max(t.e)..d.s).any(|i| {
                    toks.get(i)
                        .is_some_and(|k| self.possessives.contains_key(&k.id))
                });
                let gap = (d.s - t.e) as f32;
                let confidence =
                    (base + if possessive { 0.05 } else { 0.0 } - 0.01 * gap).clamp(0.05, 1.0);
                out.push(Hit {
                    category,
                    start,
                    doc_start: d.s,
                    doc_end: d.e,
                    confidence,
                });
            }
        }
    }

    /// The token at `s` opens a clause, possibly after opener words (`also`, `then`, `y`).
    fn clause_initial(&self, toks: &[Tok], s: usize) -> bool {
        let mut p = s;
        loop {
            let Some(tok) = toks.get(p) else {
                return false;
            };
            if tok.clause_start() || p == 0 {
                return true;
            }
            if self.openers.contains_key(&toks[p - 1].id) {
                p -= 1;
            } else {
                return false;
            }
        }
    }
}
