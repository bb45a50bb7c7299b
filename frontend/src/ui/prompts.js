// The prompts of the object being segmented: points (label 1 positive, 0 negative), at most one
// box, and the decoder's last answer for them. Immutable snapshots, so undo is just "put the
// previous snapshot back".

export const EMPTY = Object.freeze({ points: [], box: null, result: null, candidate: 0 });

export function isEmpty(state) {
  return state.points.length === 0 && !state.box;
}

export function addPoint(state, x, y, label) {
  return { ...state, points: [...state.points, { x, y, label }] };
}

export function setBox(state, box) {
  const [x0, x1] = [Math.min(box[0], box[2]), Math.max(box[0], box[2])];
  const [y0, y1] = [Math.min(box[1], box[3]), Math.max(box[1], box[3])];
  return { ...state, box: [x0, y0, x1, y1] };
}

// SAM's own advice: ask for three candidates when one point is ambiguous (part or whole?), and a
// single mask once more prompts pin the object down.
export function wantsMultimask(state) {
  return state.points.length + (state.box ? 2 : 0) <= 1;
}

// The worker's decode request. The low-res logits of the candidate the user chose for this
// object are fed back as mask_input while refining (as SamPredictor's interactive loop does).
// `candidates`: the worker also returns all four masks, so Tab can show another candidate of the
// same decode instead of decoding again.
export function decodeRequest(state, { multimask, useMaskInput = true } = {}) {
  const mm = multimask ?? wantsMultimask(state);
  return {
    points: state.points.map((p) => [p.x, p.y]),
    labels: state.points.map((p) => p.label),
    box: state.box,
    maskInput: useMaskInput && state.result ? Float32Array.from(state.result.lowRes) : null,
    multimask: mm,
    candidates: true,
  };
}

const MASK_SIZE = 256 * 256;

// The candidates a result offers: SAM's three for an ambiguous prompt, else its single mask.
export function candidateIndices(result) {
  return result?.multimask ? [1, 2, 3] : [0];
}

// Whether the result was decoded for these very prompts: after a new click, until its decode
// comes back, the result is the previous one (kept to be fed back), and not to be cycled.
export function isCurrent(state) {
  const r = state.result;
  return Boolean(r) && r.points === state.points && r.box === state.box;
}

// The same decode showing candidate `index`: its logits come from the masks kept with the result,
// so the candidates and their scores stay exactly as decoded.
export function withCandidate(state, index) {
  const r = state.result;
  if (!r?.masks || !isCurrent(state) || !candidateIndices(r).includes(index)) return state;
  return { ...state, result: { ...r, chosen: index, lowRes: r.masks.subarray(index * MASK_SIZE, (index + 1) * MASK_SIZE) } };
}

// Tab (step 1) and Shift+Tab (step -1): the next or previous candidate, round the three.
export function cycleCandidate(state, step) {
  const order = candidateIndices(state.result);
  const k = order.indexOf(state.result?.chosen);
  if (k < 0 || order.length < 2) return state;
  return withCandidate(state, order[(((k + step) % order.length) + order.length) % order.length]);
}

// A hover prompt: one positive point at the cursor, nothing else.
export function hoverRequest(x, y) {
  return { points: [[x, y]], labels: [1], box: null, maskInput: null, multimask: true };
}

// What is saved with the annotation, so a reviewer can see how the mask was made.
export function promptsRecord(state) {
  return {
    points: state.points.map((p) => [p.x, p.y]),
    labels: state.points.map((p) => p.label),
    box: state.box,
    candidate: state.result?.chosen ?? null,
  };
}
