// Hover-to-paint: every mouse position becomes a decode request at once; the worker drops queued
// requests a newer one replaces, and here a result older than the newest one painted is
// dropped too, so the overlay always shows the freshest mask the decoder could produce.
//
// Latency is measured from the mouse event (event.timeStamp, same clock as performance.now())
// to the frame that shows the mask: a requestAnimationFrame after the draw, then a message-channel
// task, which runs once that frame's rendering step is done.

const afterPaint = () =>
  new Promise((resolve) => {
    requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => resolve(performance.now());
      ch.port2.postMessage(null);
    });
  });

export class HoverLoop {
  constructor({ decode, paint }) {
    this.decode = decode; // (x, y) -> Promise<decoded | dropped>
    this.paint = paint; // (decoded, ticket) -> false if it chose not to draw, else draws synchronously
    this.latest = 0; // seq of the newest result painted
    this.latencies = [];
    this.decodeMs = [];
    this.overheadMs = []; // decoder reply -> frame shown: what the page itself adds
    this.dropped = 0;
    this.busyMs = 0; // decode time of every answer, painted or not: the worker's work
    this.firstPaintAt = null; // performance.now() of the first mask painted (page open -> hover)
    this.maxSamples = 2000;
  }

  // `ticket` goes back to paint with the answer (annotate/atlas_hover.js: which region it was for).
  async move(x, y, t0, ticket = null) {
    let reply;
    try {
      reply = await this.decode(x, y);
    } catch (err) {
      return { error: err };
    }
    if (!reply || reply.type !== "decoded") {
      this.dropped++;
      return null;
    }
    this.busyMs += reply.ms ?? 0;
    if (reply.seq < this.latest) {
      this.dropped++;
      return null;
    }
    this.latest = reply.seq;
    const received = performance.now();
    if (this.paint(reply, ticket) === false) {
      this.dropped++;
      return null;
    }
    const painted = await afterPaint();
    this.firstPaintAt ??= painted;
    if (this.latencies.length < this.maxSamples) {
      this.latencies.push(painted - t0);
      this.decodeMs.push(reply.ms);
      this.overheadMs.push(painted - received);
    }
    return reply;
  }

  reset() {
    this.latencies = [];
    this.decodeMs = [];
    this.overheadMs = [];
    this.dropped = 0;
    this.busyMs = 0;
    this.firstPaintAt = null;
  }
}
