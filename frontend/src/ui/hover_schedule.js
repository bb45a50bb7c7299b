// When a hover sends an exact decode, with a hover atlas (decoder/atlas.js) painting the mask of
// the cell under the cursor at once. Pure (timers injected), so node --test drives it on a fake
// clock; annotate/atlas_hover.js feeds it the page's mouse moves.
//
// Why not decode every move as the page did before the atlas: a moving cursor then keeps both
// cores busy with decodes whose masks are replaced before anyone looks at them. With an atlas
// the moving cursor already sees a mask, so an exact decode is sent only where it can be seen:
//   - the cursor rests (no move for `restMs`): the exact mask for that point replaces the atlas's;
//   - the cursor starts moving after a rest (or jumps): its first move is decoded at once. The
//     decoder is idle then, so this costs one decode per motion, and a cursor that lands and stays
//     gets its exact mask as soon as it did before the atlas instead of `restMs` later;
//   - the cursor is over a cell without an atlas mask: nothing else would show, decode at once
//     (latest wins, as before).
// An exact answer is painted only while the cursor is still in the atlas region it was asked
// for (same mask id): otherwise it would replace the atlas mask of the cell the cursor is now
// over with the mask of a place it has left.
// Without an atlas every move decodes at once, exactly as before.

export const REST_MS = 60;

export class HoverSchedule {
  // The timers are wrapped: a bare setTimeout called as this.setTimer throws "Illegal invocation".
  constructor({ restMs = REST_MS, setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (id) => clearTimeout(id), paintAtlas, decodeExact }) {
    this.restMs = restMs;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.paintAtlas = paintAtlas; // (id, t) -> void: show atlas mask `id` for a move at time t
    this.decodeExact = decodeExact; // (x, y, t, ticket) -> void: send the exact decode
    this.atlas = null; // anything with maskAt(x, y) -> id or -1
    this.timer = null;
    this.region = -1; // atlas mask id under the cursor (-1: none)
    this.shown = null; // "atlas" | "exact" | null: what the mask layer shows
    this.shownId = -1; // the atlas region (mask id) of what is shown
    this.lastMoveT = null; // time of the previous move: a gap of restMs or more was a rest
    this.moves = 0;
    this.covered = 0; // moves over a cell with an atlas mask: painted with no decode
    this.decodes = 0;
  }

  setAtlas(atlas) {
    this.reset();
    this.atlas = atlas;
  }

  // A mouse position over the image at time t (event.timeStamp).
  move(x, y, t) {
    this.moves++;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const afterRest = this.lastMoveT === null || t - this.lastMoveT >= this.restMs;
    this.lastMoveT = t;
    if (!this.atlas) return this.#send(x, y, t, -1);
    const id = this.atlas.maskAt(x, y);
    this.region = id;
    if (id < 0) return this.#send(x, y, t, -1);
    this.covered++;
    // Within the region shown (the atlas's mask, or the exact one that replaced it) nothing new.
    if (this.shown === null || this.shownId !== id) {
      this.shown = "atlas";
      this.shownId = id;
      this.paintAtlas(id, t);
    }
    if (afterRest) return this.#send(x, y, t, id);
    // The exact decode of a resting cursor is timed from its last move, as before the atlas.
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.#send(x, y, t, id);
    }, this.restMs);
  }

  #send(x, y, t, region) {
    this.decodes++;
    this.decodeExact(x, y, t, { region });
  }

  // May the exact answer asked with `ticket` replace what is shown now?
  mayPaintExact(ticket) {
    if (!this.atlas || ticket.region < 0) return !this.atlas || this.region < 0;
    return ticket.region === this.region;
  }

  exactPainted(ticket) {
    this.shown = "exact";
    this.shownId = ticket.region;
  }

  reset() {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.region = -1;
    this.lastMoveT = null;
    this.shown = null;
    this.shownId = -1;
  }
}
