// COCO RLE (pycocotools' compressed string, as the API serves a proposal's mask) -> a binary
// mask in row-major order. COCO counts runs down columns (Fortran order), so the runs are
// decoded first, then transposed.

function counts(s) {
  const out = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (out.length > 2) x += out[out.length - 2];
    out.push(x);
  }
  return out;
}

// {size: [h, w], counts: string | number[]} -> Uint8Array(h * w), 1 inside.
export function rleToMask(rle) {
  const [h, w] = rle.size;
  const runs = typeof rle.counts === "string" ? counts(rle.counts) : rle.counts;
  const mask = new Uint8Array(h * w);
  let i = 0;
  let value = 0;
  for (const run of runs) {
    if (value) {
      for (let j = i; j < i + run; j++) mask[(j % h) * w + Math.floor(j / h)] = 1;
    }
    i += run;
    value ^= 1;
  }
  return mask;
}
