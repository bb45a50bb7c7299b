// The annotation page's state: one plain object, created here with every field it will ever have,
// and handed to each module that reads or writes it. No module keeps page state of its own or
// reaches for a global, so a reader finds every field, and its meaning, in this one place.
import * as P from "../ui/prompts.js";

export function createState({ projectId }) {
  return {
    // The project and the user's place in it (set once when the page starts).
    projectId,
    project: null, // API project
    role: null, // the user's role in the project: what they may edit and review
    labels: new Map(), // label id -> API label
    labelOrder: [], // label ids in the project's order; number key k picks labelOrder[k - 1]
    labelIndex: 0, // index in labelOrder of the label new annotations get
    neighbours: [], // image ids of the project, in list order (N / P and the prefetch)
    modelKey: null, // the decoder's embedding model key, from its manifest
    family: "sam1", // the decoder's model family ("sam1" | "sam2"): how its low-res logits map

    // The open image.
    imageId: null,
    image: null, // API image
    imageEl: null, // the decoded <img>, drawn on the base layer
    readOnly: true, // no edit lock held, or a role that cannot annotate
    ready: false, // embedding in the worker: hover and clicks decode

    // The object being segmented with SAM (annotate/prompting.js).
    prompts: P.EMPTY, // points, box and the decoder's last answer (ui/prompts.js)
    hover: null, // {x, y, reply}: the mask under the cursor while no object is started
    preview: null, // {mask, polygons, state}: the current object's full-res mask, traced
    decoding: null, // the decode of the latest prompt change, so Enter right after a click waits
    tolerance: 1, // polygon simplification in image pixels

    // Tools and the gesture in progress (annotate/tools.js, annotate/pointer.js).
    mode: "sam", // the active tool's name
    drag: null, // the gesture in progress: {kind: "pan" | "press" | "box" | "vertex" | "move" | "brush", ...}
    cursor: null, // [x, y] image pixels under the mouse, for the brush outline
    spaceDown: false, // Space held over the stage: a left drag pans
    brushRadius: 12, // image pixels
    selectedId: null, // the annotation being edited or highlighted
    vertexHover: -1, // index in vertices(selected.polygons) under the mouse, or -1
    polygon: null, // [[x, y], ...] image pixels: the polygon being drawn (annotate/polygon_tool.js)

    // What is shown.
    show: true, // saved annotations drawn (H)
  };
}

// The label new annotations get, or null when the project has none.
export function currentLabel(state) {
  return state.labels.get(state.labelOrder[state.labelIndex]) ?? null;
}
