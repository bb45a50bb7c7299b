// Mouse input on the stage. Panning (middle button, or Space + left drag) and zooming (wheel) work
// the same in every tool; everything else goes to the active tool (annotate/tools.js), and the
// moves and release of a gesture go to the tool that started it, even if the mode changed since.
export function createPointer({ state, stage, view, tools, drawing }) {
  let owner = null; // the tool whose gesture state.drag is

  // The event's position on the stage (sx, sy) and in image pixels (xy).
  function at(event) {
    const rect = stage.getBoundingClientRect();
    const sx = event.clientX - rect.left;
    const sy = event.clientY - rect.top;
    const xy = view.toImage(sx, sy);
    return { sx, sy, xy, inImage: view.contains(xy[0], xy[1]) };
  }

  stage.addEventListener("contextmenu", (e) => e.preventDefault());

  stage.addEventListener("mousedown", (e) => {
    stage.focus();
    const p = at(e);
    if (e.button === 1 || (e.button === 0 && state.spaceDown)) {
      state.drag = { kind: "pan", sx: p.sx, sy: p.sy };
      owner = null;
      return;
    }
    const tool = tools.active();
    const before = state.drag;
    tool?.down?.(p, e);
    if (state.drag !== before) owner = state.drag ? tool : null;
  });

  window.addEventListener("mousemove", (e) => {
    const p = at(e);
    const d = state.drag;
    if (d?.kind === "pan") {
      view.pan(p.sx - d.sx, p.sy - d.sy);
      d.sx = p.sx;
      d.sy = p.sy;
      return drawing.redraw();
    }
    if (!stage.contains(e.target) && !d) return;
    state.cursor = p.xy;
    if (d && owner?.drag?.(p, e)) return;
    tools.active()?.hover?.(p, e);
  });

  window.addEventListener("mouseup", (e) => {
    const d = state.drag;
    const tool = owner;
    state.drag = null;
    owner = null;
    if (!d) return;
    if (d.kind !== "pan") tool?.up?.(d, e);
    drawing.redraw();
  });

  stage.addEventListener("wheel", (e) => {
    e.preventDefault();
    const { sx, sy } = at(e);
    view.zoomAt(sx, sy, Math.exp(-e.deltaY * 0.0015));
    drawing.redraw();
  }, { passive: false });

  window.addEventListener("keydown", (e) => {
    if (e.key !== " " || !stage.contains(e.target)) return;
    state.spaceDown = true;
    e.preventDefault();
  });
  window.addEventListener("keyup", (e) => {
    if (e.key === " ") state.spaceDown = false;
  });
}
