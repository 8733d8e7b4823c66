//! Building prefix codes the decoder accepts: length-limited Huffman code lengths (always a
//! complete code, or all zero when nothing is coded) and the "long codes first" canonical
//! codewords PA30 assigns from them (see `delta::huffman`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Code lengths for `freq`, none longer than `limit`. Unused symbols get 0. With one used symbol a
/// second one gets a codeword too, because the decoder only accepts complete codes.
pub(crate) fn lengths(freq: &[u32], limit: u32) -> Vec<u8> {
    let mut lens = vec![0u8; freq.len()];
    let used: Vec<usize> = (0..freq.len()).filter(|&i| freq[i] > 0).collect();
    match used.len() {
        0 => return lens,
        1 => {
            lens[used[0]] = 1;
            lens[if used[0] == 0 { 1 } else { 0 }] = 1;
            return lens;
        }
        _ => {}
    }
    let mut f: Vec<u64> = used.iter().map(|&i| u64::from(freq[i])).collect();
    loop {
        let depth = huffman_depths(&f);
        if depth.iter().all(|&d| d <= limit) {
            for (k, &i) in used.iter().enumerate() {
                lens[i] = depth[k] as u8;
            }
            return lens;
        }
        // Flatten the distribution and retry; all-equal weights give depth ⌈log2 n⌉ ≤ limit.
        for x in &mut f {
            *x = x.div_ceil(2);
        }
    }
}

/// Depth of each leaf in a Huffman tree over `f` (at least two weights).
fn huffman_depths(f: &[u64]) -> Vec<u32> {
    let n = f.len();
    let mut parent = vec![usize::MAX; 2 * n - 1];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = f
        .iter()
        .enumerate()
        .map(|(i, &w)| Reverse((w, i)))
        .collect();
    let mut next = n;
    while heap.len() > 1 {
        let Some(Reverse((wa, a))) = heap.pop() else {
            break;
        };
        let Some(Reverse((wb, b))) = heap.pop() else {
            break;
        };
        parent[a] = next;
        parent[b] = next;
        heap.push(Reverse((wa + wb, next)));
        next += 1;
    }
    // Internal nodes were created after their children: walk from the root down.
    let mut depth = vec![0u32; 2 * n - 1];
    for i in (0..next - 1).rev() {
        depth[i] = depth[parent[i]] + 1;
    }
    depth.truncate(n);
    depth
}

/// Codeword of every symbol, bit-reversed so it can be written LSB-first (the codeword's most
/// significant bit goes first on the stream), with its length. Longest codes take the smallest
/// values; within a length, symbols take consecutive values in ascending order.
pub(crate) fn codes(lens: &[u8]) -> Vec<(u32, u8)> {
    let mut counts = [0u32; 17];
    for &l in lens {
        counts[l as usize] += 1;
    }
    let mut next = [0u32; 17];
    let mut first = 0u32;
    for l in (1..=16).rev() {
        next[l] = first;
        first = (first + counts[l]) >> 1;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                return (0, 0);
            }
            let code = next[l as usize];
            next[l as usize] += 1;
            (code.reverse_bits() >> (32 - u32::from(l)), l)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::super::huffman::Decoder;
    use super::*;

    #[test]
    fn codes_are_complete_and_limited() {
        let mut freq: Vec<u32> = (0..600)
            .map(|i| if i % 3 == 0 { 0 } else { 1 << (i % 30) })
            .collect();
        freq[5] = u32::MAX / 2;
        let l = lengths(&freq, 16);
        assert!(l.iter().all(|&x| x <= 16));
        assert!(Decoder::new(&l, 16).is_ok());
        for f in [vec![0u32, 0, 7], vec![3, 0, 0, 4], vec![0; 5]] {
            let l = lengths(&f, 15);
            if f.iter().any(|&x| x > 0) {
                assert!(Decoder::new(&l, 15).is_ok(), "{f:?} -> {l:?}");
            } else {
                assert!(l.iter().all(|&x| x == 0));
            }
        }
    }
}
