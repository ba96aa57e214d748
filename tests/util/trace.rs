//! For the recording tests (`tests/trace_*.rs`, `tests/timeline_*.rs`): a small
//! JSON parser, a checker for the Chrome Trace Event format, and an XML well-formedness
//! checker, all by hand because the crate takes no dependencies.
//!
//! The checkers are strict on purpose: a viewer that meets a malformed file (Perfetto,
//! `chrome://tracing`, a browser opening the SVG) shows an error or, worse, a subtly
//! wrong picture, so the tests reject anything a viewer might trip over.

use std::collections::{BTreeMap, HashMap, HashSet};

// ------------------------------------------------------------------------------------
// JSON (RFC 8259)
// ------------------------------------------------------------------------------------

/// A parsed JSON value. Objects keep their keys in order (and duplicates are an error).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number, and its text as written (for exact decimal checks).
    Num(f64, String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n, _) => Some(*n),
            _ => None,
        }
    }

    /// A time in microseconds with up to three decimals, as exact nanoseconds.
    pub fn nanos(&self) -> Option<u64> {
        let Json::Num(_, text) = self else {
            return None;
        };
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if frac.len() > 3 || int.starts_with('-') {
            return None;
        }
        let int: u64 = int.parse().ok()?;
        let frac: u64 = format!("{frac:0<3}").parse().ok()?;
        Some(int * 1000 + frac)
    }

    pub fn arr(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(items) => Some(items),
            _ => None,
        }
    }
}

/// Parses a whole JSON text; anything after the value but whitespace is an error.
pub fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = JsonParser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters after the value"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn err(&self, what: &str) -> String {
        let from = self.i.saturating_sub(30);
        let to = (self.i + 30).min(self.s.len());
        format!(
            "invalid JSON at byte {}: {what} (near {:?})",
            self.i,
            String::from_utf8_lossy(&self.s[from..to])
        )
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.err(&format!("expected {lit}")))
        }
    }

    /// Just after a `[` or `{`: whether `close` follows at once (an empty array or
    /// object), and if so, steps over it.
    fn closes(&mut self, close: u8) -> bool {
        self.ws();
        let empty = self.s.get(self.i) == Some(&close);
        if empty {
            self.i += 1;
        }
        empty
    }

    /// After an item of an array or object: steps over the `,` before the next item
    /// (`false`) or the `close` that ends the list (`true`); anything else is an error.
    fn next_or_close(&mut self, close: u8) -> Result<bool, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(&c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.err(&format!("expected , or {}", close as char))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 64 {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end")),
            Some(b'n') => self.eat("null").map(|_| Json::Null),
            Some(b't') => self.eat("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                let mut done = self.closes(b']');
                while !done {
                    items.push(self.value(depth + 1)?);
                    done = self.next_or_close(b']')?;
                }
                Ok(Json::Arr(items))
            }
            Some(b'{') => {
                self.i += 1;
                let mut pairs: Vec<(String, Json)> = Vec::new();
                let mut done = self.closes(b'}');
                while !done {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a key"));
                    }
                    let key = self.string()?;
                    if pairs.iter().any(|(k, _)| *k == key) {
                        return Err(self.err(&format!("duplicate key {key:?}")));
                    }
                    self.ws();
                    self.eat(":")?;
                    let v = self.value(depth + 1)?;
                    pairs.push((key, v));
                    done = self.next_or_close(b'}')?;
                }
                Ok(Json::Obj(pairs))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err(self.err("bad integer part"));
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("no digits after ."));
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("no digits in the exponent"));
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        let n: f64 = text.parse().map_err(|_| self.err("bad number"))?;
        Ok(Json::Num(n, text.to_string()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad UTF-8"))?,
            );
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self.s.get(self.i).ok_or_else(|| self.err("bad escape"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                self.eat("\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(code).ok_or_else(|| self.err("bad code point"))?,
                            );
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                Some(_) => return Err(self.err("raw control character in a string")),
            }
        }
    }
}

// ------------------------------------------------------------------------------------
// The Chrome Trace Event format
// ------------------------------------------------------------------------------------

/// One complete event (`"ph":"X"`), with exact times in nanoseconds.
#[derive(Debug, Clone)]
pub struct Slice {
    pub name: String,
    pub cat: String,
    pub tid: u64,
    pub start: u64,
    pub end: u64,
    pub args: Option<Json>,
}

/// What a valid trace contains, for the tests' own checks.
#[derive(Debug)]
pub struct Trace {
    /// Thread names by tid.
    pub threads: BTreeMap<u64, String>,
    pub slices: Vec<Slice>,
    /// Instant events: (name, tid, ns).
    pub instants: Vec<(String, u64, u64)>,
    /// Flows: (name, from tid, from ns, to tid, to ns).
    pub flows: Vec<(String, u64, u64, u64, u64)>,
    /// Async spans: (cat, name) of each `b` event.
    pub asyncs: Vec<(String, String)>,
    pub root: Json,
}

impl Trace {
    pub fn tid_of(&self, name: &str) -> u64 {
        *self
            .threads
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .unwrap_or_else(|| panic!("no thread named {name}: {:?}", self.threads))
            .0
    }

    pub fn slices_in(&self, cat: &str) -> Vec<&Slice> {
        self.slices.iter().filter(|s| s.cat == cat).collect()
    }
}

/// The start events (name, tid, ns) and end events (tid, ns) seen for one flow id.
type FlowEnds = (Vec<(String, u64, u64)>, Vec<(u64, u64)>);

/// Checks `text` against the Trace Event format as Perfetto and `chrome://tracing` read it,
/// and against what our traces promise:
///
/// - valid JSON; an object with a `traceEvents` array; every event has `name`, `ph`,
///   `pid`, `tid`, and a `ts` (but metadata);
/// - every thread used is named by a `thread_name` metadata event;
/// - every span closed: `X` events have `dur >= 0`; `B`/`E` pairs and async `b`/`e`
///   pairs match;
/// - spans on one thread nest and never partly overlap;
/// - every flow has one start and one end, each strictly inside a span on its thread;
/// - events are on the right thread: callbacks, ticks, phases and poll waits on `main`,
///   jobs on a `pool` thread, `epoll` events on `epoll`.
pub fn check_trace(text: &str) -> Result<Trace, String> {
    let root = parse_json(text)?;
    let events = root
        .get("traceEvents")
        .and_then(Json::arr)
        .ok_or("no traceEvents array")?;
    let mut threads = BTreeMap::new();
    let mut slices = Vec::new();
    let mut instants = Vec::new();
    let mut begins: HashMap<u64, Vec<(String, u64)>> = HashMap::new();
    let mut asyncs_open: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut asyncs = Vec::new();
    let mut flow_ends: HashMap<String, FlowEnds> = HashMap::new();
    let mut used_tids = HashSet::new();
    for (n, e) in events.iter().enumerate() {
        let field = |k: &str| e.get(k).ok_or(format!("event {n} has no {k}: {e:?}"));
        let name = field("name")?
            .str()
            .ok_or(format!("event {n}: name is not a string"))?;
        let ph = field("ph")?
            .str()
            .ok_or(format!("event {n}: ph is not a string"))?;
        field("pid")?
            .num()
            .ok_or(format!("event {n}: pid is not a number"))?;
        let tid = field("tid")?
            .num()
            .ok_or(format!("event {n}: tid is not a number"))? as u64;
        if ph == "M" {
            if name == "thread_name" {
                let tname = e
                    .get("args")
                    .and_then(|a| a.get("name"))
                    .and_then(Json::str)
                    .ok_or(format!("event {n}: thread_name without args.name"))?;
                threads.insert(tid, tname.to_string());
            }
            continue;
        }
        let ts = field("ts")?.nanos().ok_or(format!(
            "event {n}: ts is not a non-negative time in µs: {e:?}"
        ))?;
        let cat = e.get("cat").and_then(Json::str).unwrap_or("").to_string();
        used_tids.insert(tid);
        match ph {
            "X" => {
                let dur = field("dur")?
                    .nanos()
                    .ok_or(format!("event {n}: dur is not a non-negative time: {e:?}"))?;
                slices.push(Slice {
                    name: name.to_string(),
                    cat,
                    tid,
                    start: ts,
                    end: ts + dur,
                    args: e.get("args").cloned(),
                });
            }
            "B" => begins.entry(tid).or_default().push((name.to_string(), ts)),
            "E" => {
                begins
                    .get_mut(&tid)
                    .and_then(Vec::pop)
                    .ok_or(format!("event {n}: E without B on thread {tid}"))?;
            }
            "i" | "I" => instants.push((name.to_string(), tid, ts)),
            "b" | "e" => {
                let id = field("id")?;
                let key = (cat.clone(), format!("{id:?}"));
                if ph == "b" {
                    asyncs_open.entry(key).or_default().push(name.to_string());
                    asyncs.push((cat, name.to_string()));
                } else {
                    let open = asyncs_open
                        .get_mut(&key)
                        .and_then(Vec::pop)
                        .ok_or(format!("event {n}: async end without a begin: {e:?}"))?;
                    if open != name {
                        return Err(format!("event {n}: async end {name:?} closes {open:?}"));
                    }
                }
            }
            "s" | "f" => {
                let id = format!("{:?}", field("id")?);
                let entry = flow_ends.entry(id).or_default();
                if ph == "s" {
                    entry.0.push((name.to_string(), tid, ts));
                } else {
                    if e.get("bp").and_then(Json::str) != Some("e") {
                        return Err(format!("event {n}: flow end without \"bp\":\"e\""));
                    }
                    entry.1.push((tid, ts));
                }
            }
            other => return Err(format!("event {n}: unexpected phase {other:?}")),
        }
    }
    if let Some((tid, open)) = begins.iter().find(|(_, v)| !v.is_empty()) {
        return Err(format!("B events never ended on thread {tid}: {open:?}"));
    }
    if let Some((key, open)) = asyncs_open.iter().find(|(_, v)| !v.is_empty()) {
        return Err(format!("async spans never ended ({key:?}): {open:?}"));
    }
    for tid in &used_tids {
        if !threads.contains_key(tid) {
            return Err(format!("thread {tid} has events but no thread_name"));
        }
    }

    // Nesting: sorted by start, longest first, each span must end before the span that
    // encloses it ends, or start after it ended.
    let mut by_tid: BTreeMap<u64, Vec<&Slice>> = BTreeMap::new();
    for s in &slices {
        by_tid.entry(s.tid).or_default().push(s);
    }
    for (tid, list) in &mut by_tid {
        list.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
        let mut stack: Vec<&Slice> = Vec::new();
        for s in list.iter() {
            while stack
                .last()
                .is_some_and(|top| top.end <= s.start && top.start != s.start)
            {
                stack.pop();
            }
            if let Some(top) = stack.last() {
                if s.end > top.end {
                    return Err(format!(
                        "on thread {tid} ({}), {:?} [{}, {}] partly overlaps {:?} [{}, {}]",
                        threads[tid], s.name, s.start, s.end, top.name, top.start, top.end
                    ));
                }
            }
            stack.push(s);
        }
    }

    // Flows: one start and one end each, strictly inside a span of their thread.
    let inside = |tid: u64, t: u64| {
        slices
            .iter()
            .any(|s| s.tid == tid && s.start < t && t < s.end)
    };
    let mut flows = Vec::new();
    for (id, (starts, ends)) in &flow_ends {
        if starts.len() != 1 || ends.len() != 1 {
            return Err(format!(
                "flow {id} has {} starts and {} ends",
                starts.len(),
                ends.len()
            ));
        }
        let (name, ft, fts) = starts[0].clone();
        let (tt, tts) = ends[0];
        if !inside(ft, fts) || !inside(tt, tts) {
            return Err(format!(
                "flow {id} ({name}) is not inside spans on both ends"
            ));
        }
        if tts < fts {
            return Err(format!("flow {id} ({name}) goes back in time"));
        }
        flows.push((name, ft, fts, tt, tts));
    }

    // The right thread for each kind of event.
    for s in &slices {
        let thread = threads[&s.tid].as_str();
        let ok = match s.cat.as_str() {
            "callback" | "tick" | "phase" | "poll" => thread == "main",
            "job" => thread.starts_with("pool"),
            "epoll" => thread == "epoll",
            other => return Err(format!("unknown category {other:?} on {:?}", s.name)),
        };
        if !ok {
            return Err(format!("{:?} ({}) is on thread {thread}", s.name, s.cat));
        }
    }
    Ok(Trace {
        threads,
        slices,
        instants,
        flows,
        asyncs,
        root,
    })
}

// ------------------------------------------------------------------------------------
// XML well-formedness (what a browser needs to open an .svg file at all)
// ------------------------------------------------------------------------------------

/// An element: its name, attributes, and children (elements and text, in order).
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every element below this one (and itself), depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = vec![self];
        for child in &self.children {
            if let Node::Element(e) = child {
                out.extend(e.descendants());
            }
        }
        out
    }

    /// The text directly inside this element (entities decoded).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }
}

/// Parses `text` as a well-formed XML 1.0 document and returns its root element: one root,
/// every tag closed in order, attributes quoted and unique per element, `&` only in
/// entity and character references (the five predefined entities, no others), no `<` in
/// attribute values, and only characters XML allows.
pub fn parse_xml(text: &str) -> Result<Element, String> {
    for (i, c) in text.char_indices() {
        let ok = matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{d7ff}').contains(&c)
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}';
        if !ok {
            return Err(format!("character {c:?} at byte {i} is not allowed in XML"));
        }
    }
    let mut p = XmlParser { s: text, i: 0 };
    if p.rest().starts_with("<?xml") {
        let end = p.rest().find("?>").ok_or("unterminated XML declaration")?;
        p.i += end + 2;
    }
    p.misc()?;
    if !p.rest().starts_with('<') {
        return Err(p.err("expected the root element"));
    }
    let root = p.element(0)?;
    p.misc()?;
    if p.i != p.s.len() {
        return Err(p.err("content after the root element"));
    }
    Ok(root)
}

struct XmlParser<'a> {
    s: &'a str,
    i: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || !c.is_ascii()
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

impl XmlParser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn err(&self, what: &str) -> String {
        let line = self.s[..self.i].matches('\n').count() + 1;
        let near: String = self.rest().chars().take(40).collect();
        format!("not well-formed XML, line {line}: {what} (near {near:?})")
    }

    fn ws(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n', '\r']);
        self.i = self.s.len() - trimmed.len();
    }

    /// Whitespace, comments and processing instructions outside the root.
    fn misc(&mut self) -> Result<(), String> {
        loop {
            self.ws();
            if self.rest().starts_with("<!--") {
                self.comment()?;
            } else if self.rest().starts_with("<?") {
                self.pi()?;
            } else {
                return Ok(());
            }
        }
    }

    /// Skips a processing instruction (`<?target ...?>`), which says nothing about the
    /// document's structure.
    fn pi(&mut self) -> Result<(), String> {
        let end = self
            .rest()
            .find("?>")
            .ok_or_else(|| self.err("unterminated PI"))?;
        self.i += end + 2;
        Ok(())
    }

    fn comment(&mut self) -> Result<(), String> {
        let body_end = self.rest()[4..]
            .find("--")
            .ok_or_else(|| self.err("unterminated comment"))?;
        if !self.rest()[4 + body_end..].starts_with("-->") {
            return Err(self.err("-- inside a comment"));
        }
        self.i += 4 + body_end + 3;
        Ok(())
    }

    fn name(&mut self) -> Result<String, String> {
        let mut chars = self.rest().char_indices();
        match chars.next() {
            Some((_, c)) if is_name_start(c) => {}
            _ => return Err(self.err("expected a name")),
        }
        let len = chars
            .find(|&(_, c)| !is_name_char(c))
            .map_or(self.rest().len(), |(k, _)| k);
        let name = self.rest()[..len].to_string();
        self.i += len;
        Ok(name)
    }

    /// Decodes text with references; `<` is not allowed in it.
    fn decode(&self, raw: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let semi = rest[amp..]
                .find(';')
                .ok_or_else(|| self.err("& without ;"))?;
            let entity = &rest[amp + 1..amp + semi];
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.err("bad character reference"))?,
                e if e.starts_with('#') => e[1..]
                    .parse::<u32>()
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.err("bad character reference"))?,
                e => return Err(self.err(&format!("unknown entity &{e};"))),
            };
            out.push(c);
            rest = &rest[amp + semi + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn element(&mut self, depth: usize) -> Result<Element, String> {
        if depth > 200 {
            return Err(self.err("nested too deeply"));
        }
        self.i += 1; // <
        let name = self.name()?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let before = self.i;
            self.ws();
            if self.rest().starts_with("/>") {
                self.i += 2;
                return Ok(Element {
                    name,
                    attrs,
                    children: Vec::new(),
                });
            }
            if self.rest().starts_with('>') {
                self.i += 1;
                break;
            }
            if self.i == before {
                return Err(self.err("expected whitespace before an attribute"));
            }
            let key = self.name()?;
            self.ws();
            if !self.rest().starts_with('=') {
                return Err(self.err("expected = after an attribute name"));
            }
            self.i += 1;
            self.ws();
            let quote = self
                .rest()
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| self.err("attribute value not quoted"))?;
            self.i += 1;
            let end = self
                .rest()
                .find(quote)
                .ok_or_else(|| self.err("unterminated attribute value"))?;
            let raw = &self.rest()[..end];
            if raw.contains('<') {
                return Err(self.err("< inside an attribute value"));
            }
            let value = self.decode(raw)?;
            self.i += end + 1;
            if attrs.iter().any(|(k, _)| *k == key) {
                return Err(self.err(&format!("attribute {key} twice")));
            }
            attrs.push((key, value));
        }
        let mut children = Vec::new();
        loop {
            let next = self
                .rest()
                .find('<')
                .ok_or_else(|| self.err(&format!("<{name}> is never closed")))?;
            if next > 0 {
                let raw = &self.rest()[..next];
                if raw.contains("]]>") {
                    return Err(self.err("]]> in text"));
                }
                children.push(Node::Text(self.decode(raw)?));
                self.i += next;
            }
            if self.rest().starts_with("</") {
                self.i += 2;
                let close = self.name()?;
                if close != name {
                    return Err(self.err(&format!("</{close}> closes <{name}>")));
                }
                self.ws();
                if !self.rest().starts_with('>') {
                    return Err(self.err("expected > after the closing tag"));
                }
                self.i += 1;
                return Ok(Element {
                    name,
                    attrs,
                    children,
                });
            } else if self.rest().starts_with("<!--") {
                self.comment()?;
            } else if self.rest().starts_with("<![CDATA[") {
                let end = self
                    .rest()
                    .find("]]>")
                    .ok_or_else(|| self.err("unterminated CDATA"))?;
                children.push(Node::Text(self.rest()[9..end].to_string()));
                self.i += end + 3;
            } else if self.rest().starts_with("<?") {
                self.pi()?;
            } else {
                children.push(Node::Element(self.element(depth + 1)?));
            }
        }
    }
}
