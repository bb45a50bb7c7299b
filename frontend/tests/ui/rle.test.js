import assert from "node:assert/strict";
import { test } from "node:test";
import { rleToMask } from "../../src/ui/rle.js";

test("a pycocotools compressed RLE decodes to the row-major mask", () => {
  // annotator.geometry.mask_to_rle of a 4x5 mask with rows 1-2, columns 1-3 set.
  const mask = rleToMask({ size: [4, 5], counts: "5220003" });
  const rows = [];
  for (let y = 0; y < 4; y++) rows.push([...mask.slice(y * 5, y * 5 + 5)].join(""));
  assert.deepEqual(rows, ["00000", "01110", "01110", "00000"]);
});

test("uncompressed counts decode the same way", () => {
  const mask = rleToMask({ size: [2, 2], counts: [1, 2, 1] });
  assert.deepEqual([...mask], [0, 1, 1, 0]);
});

test("a random mask's runs (with negative deltas) decode exactly", () => {
  // pycocotools' RLE of a 37x23 random mask: its set pixels' count and index sum (row-major).
  const mask = rleToMask({ size: [37, 23], counts: "024OM0120N30O0N013OOO0000O1O20M10O13ON24NL101OO1O24NMOO0020O1O20N0113OL4OM1O03OM0023NN22NM011OO1010O0O40L0110O00O24N00M1O22MN002306NI20ONO0021O01O21N31OMO50KN130MO20N21OO12N00N021NO31NOO01021M10N010O0010O120N51K150KNO40N1N11NO1102OM10O01000O21N11N01OO131OON1032K00O0O35ML010O20N020NO13OM10O022OO01OO020N1O11N15NN0N10102OM0O21N10O4OL52K11M10N011OO0011O0011NO30M20N010O0110OO00020N0012ON0010O1010O100O04OL50O0L21NO1010N111" });
  let n = 0;
  let sum = 0;
  mask.forEach((v, i) => v && (n++, (sum += i)));
  assert.deepEqual([n, sum], [411, 169516]);
});
