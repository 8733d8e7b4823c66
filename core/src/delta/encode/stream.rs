//! Writing the PseudoLzx patch stream: an empty rift table, then either msdelta's default tables
//! or coded blocks (each block's 872 code lengths pre-tree coded against the previous block's),
//! then the symbols. Blocks are coded as they fill, so memory holds one block of tokens plus the
//! bits written so far.

use super::super::huffman::default_lengths;
use super::bitwrite::BitWriter;
use super::huffcode::{codes, lengths};
use super::tokens::{back_slot, source_field, Addr, Token};

const MAIN: usize = 600;
const LENGTHS: usize = 256;
const ALIGNED: usize = 16;
const ALL: usize = MAIN + LENGTHS + ALIGNED;
const PRETREE: usize = 39;
/// Longest codeword of the main, length and aligned codes the decoder accepts.
const MAX_CODE_LEN: u32 = 16;
/// Longest pre-tree codeword (4-bit length fields; the decoder accepts up to 15).
const MAX_PRE_LEN: u32 = 15;

type Code = Vec<(u32, u8)>;

struct Tables {
    main: Code,
    len: Code,
    aligned: Code,
}

impl Tables {
    fn from_lengths(l: &[u8]) -> Tables {
        Tables {
            main: codes(&l[..MAIN]),
            len: codes(&l[MAIN..MAIN + LENGTHS]),
            aligned: codes(&l[MAIN + LENGTHS..]),
        }
    }
}

/// The symbols a copy puts on the stream, in stream order.
struct CopyParts {
    main: usize,
    /// Escape to slots 43..70: (bits, count).
    escape: Option<(u64, u32)>,
    /// Raw offset field: (value, bits).
    raw: (u64, u32),
    aligned: Option<usize>,
    len_sym: Option<usize>,
    long_len: Option<u32>,
}

fn copy_parts(len: u32, addr: Addr) -> CopyParts {
    let len_code = if len <= 8 { len - 1 } else { 0 };
    let (slot, raw, aligned) = match addr {
        Addr::Recent(i) => (4 + u32::from(i), (0, 0), None),
        Addr::FullSource => (3, (0, 0), None),
        Addr::Source(d) => {
            // The parser only makes Source addresses that fit a slot.
            let (s, v, b) = source_field(d).unwrap_or((0, 0, 14));
            (s, (u64::from(v), b), None)
        }
        Addr::Back(dist) => {
            let (s, extra) = back_slot(dist);
            let low = u64::from(dist) & ((1u64 << extra) - 1);
            if extra < 4 {
                (s, (low, extra), None)
            } else {
                (s, (low >> 4, extra - 4), Some((low & 15) as usize))
            }
        }
    };
    let (main_slot, escape) = match slot {
        0..=42 => (slot, None),
        43..=46 => (7, Some((u64::from(slot - 43) << 1, 3))),
        47..=54 => (7, Some((1 | u64::from(slot - 47) << 2, 5))),
        _ => (7, Some((3 | u64::from(slot - 55) << 2, 6))),
    };
    let (len_sym, long_len) = match len {
        0..=8 => (None, None),
        9..=263 => (Some((len - 8) as usize), None),
        _ => (Some(0), Some(len - 8)),
    };
    CopyParts {
        main: 256 + (main_slot * 8 + len_code) as usize,
        escape,
        raw,
        aligned,
        len_sym,
        long_len,
    }
}

fn write_token(w: &mut BitWriter, t: &Tables, tok: Token) {
    let put = |w: &mut BitWriter, c: &Code, s: usize| {
        let (v, l) = c[s];
        w.put(u64::from(v), u32::from(l));
    };
    match tok {
        Token::Literal(b) => put(w, &t.main, usize::from(b)),
        Token::Copy { len, addr } => {
            let p = copy_parts(len, addr);
            put(w, &t.main, p.main);
            if let Some((v, n)) = p.escape {
                w.put(v, n);
            }
            w.put(p.raw.0, p.raw.1);
            if let Some(a) = p.aligned {
                put(w, &t.aligned, a);
            }
            if let Some(s) = p.len_sym {
                put(w, &t.len, s);
            }
            if let Some(v) = p.long_len {
                w.number8(v);
            }
        }
    }
}

fn block_lengths(tokens: &[Token]) -> Vec<u8> {
    let mut main = vec![0u32; MAIN];
    let mut len = vec![0u32; LENGTHS];
    let mut aligned = vec![0u32; ALIGNED];
    for &tok in tokens {
        match tok {
            Token::Literal(b) => main[usize::from(b)] += 1,
            Token::Copy { len: l, addr } => {
                let p = copy_parts(l, addr);
                main[p.main] += 1;
                if let Some(a) = p.aligned {
                    aligned[a] += 1;
                }
                if let Some(s) = p.len_sym {
                    len[s] += 1;
                }
            }
        }
    }
    let mut l = lengths(&main, MAX_CODE_LEN);
    l.extend(lengths(&len, MAX_CODE_LEN));
    l.extend(lengths(&aligned, MAX_CODE_LEN));
    l
}

/// Collects tokens and writes the patch stream.
pub(crate) struct StreamWriter {
    block_tokens: usize,
    cur: Vec<Token>,
    cur_start: u64,
    pos: u64,
    blocks: Vec<(u64, Vec<u8>)>,
    body: BitWriter,
}

impl StreamWriter {
    /// `ref_len`: the virtual position of the first target byte. Blocks hold up to
    /// `block_tokens` tokens.
    pub(crate) fn new(ref_len: u64, block_tokens: usize) -> Self {
        StreamWriter {
            block_tokens: block_tokens.max(1),
            cur: Vec::new(),
            cur_start: ref_len,
            pos: ref_len,
            blocks: Vec::new(),
            body: BitWriter::default(),
        }
    }

    pub(crate) fn push(&mut self, tok: Token) {
        if self.cur.is_empty() {
            self.cur_start = self.pos;
        }
        self.pos += match tok {
            Token::Literal(_) => 1,
            Token::Copy { len, .. } => u64::from(len),
        };
        self.cur.push(tok);
        if self.cur.len() >= self.block_tokens {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let l = block_lengths(&self.cur);
        let t = Tables::from_lengths(&l);
        for &tok in &self.cur {
            write_token(&mut self.body, &t, tok);
        }
        self.blocks.push((self.cur_start, l));
        self.cur.clear();
    }

    /// The finished patch stream. A target that fits one block is also written with the default
    /// tables, and the shorter stream wins.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let default = if self.blocks.is_empty() {
            let mut l = default_lengths(MAIN);
            l.extend(default_lengths(LENGTHS));
            l.extend(default_lengths(ALIGNED));
            let t = Tables::from_lengths(&l);
            let mut w = BitWriter::stream();
            w.put(0, 1); // empty rift table
            w.put(1, 1); // default tables
            for &tok in &self.cur {
                write_token(&mut w, &t, tok);
            }
            Some(w.finish_stream())
        } else {
            None
        };
        if self.cur.is_empty() && self.blocks.is_empty() {
            return default.unwrap_or_default();
        }
        self.flush();
        let coded = self.assemble();
        match default {
            Some(d) if d.len() <= coded.len() => d,
            _ => coded,
        }
    }

    fn assemble(&self) -> Vec<u8> {
        let mut w = BitWriter::stream();
        w.put(0, 1); // empty rift table
        w.put(0, 1); // coded blocks
        w.number(self.blocks.len() as u64);
        let mut at = 0u64;
        for (s, _) in &self.blocks {
            w.number(s - at);
            at = *s;
        }
        // Pre-tree tokens of every block's lengths, against the previous block's.
        let mut toks: Vec<(usize, u64, u32)> = Vec::new();
        let mut prev = vec![0u8; ALL];
        for (_, l) in &self.blocks {
            length_tokens(l, &prev, &mut toks);
            prev.clone_from(l);
        }
        let mut freq = vec![0u32; PRETREE];
        for &(s, _, _) in &toks {
            freq[s] += 1;
        }
        let pl = lengths(&freq, MAX_PRE_LEN);
        for &x in &pl {
            w.put(u64::from(x), 4);
        }
        let pc = codes(&pl);
        for &(s, v, n) in &toks {
            let (c, l) = pc[s];
            w.put(u64::from(c), u32::from(l));
            w.put(v, n);
        }
        w.append(&self.body);
        w.finish_stream()
    }
}

/// Pre-tree symbols (with their extra bits) for one block's lengths: runs equal to the previous
/// block (31..38) or to the last length (23..30), otherwise the length itself (0..16).
fn length_tokens(cur: &[u8], prev: &[u8], out: &mut Vec<(usize, u64, u32)>) {
    let run_sym = |base: usize, n: usize| -> (usize, u64, u32) {
        if n <= 3 {
            (base + n - 1, 0, 0)
        } else {
            let k = (usize::BITS - n.leading_zeros()) as usize; // n in [2^(k-1), 2^k)
            (base + k, (n - (1 << (k - 1))) as u64, (k - 1) as u32)
        }
    };
    let mut i = 0;
    while i < cur.len() {
        let same_prev = (i..cur.len())
            .take(127)
            .take_while(|&j| cur[j] == prev[j])
            .count();
        let same_last = if i > 0 {
            (i..cur.len())
                .take(127)
                .take_while(|&j| cur[j] == cur[i - 1])
                .count()
        } else {
            0
        };
        if same_prev >= 2 && same_prev >= same_last {
            out.push(run_sym(31, same_prev));
            i += same_prev;
        } else if same_last >= 2 {
            out.push(run_sym(23, same_last));
            i += same_last;
        } else {
            out.push((usize::from(cur[i]), 0, 0));
            i += 1;
        }
    }
}
