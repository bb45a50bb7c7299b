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
    this.paint = paint; // (decoded) -> void, draws synchronously
    this.latest = 0; // seq of the newest result painted
    this.latencies = [];
    this.decodeMs = [];
    this.overheadMs = []; // decoder reply -> frame shown: what the page itself adds
    this.dropped = 0;
    this.maxSamples = 2000;
  }

  async move(x, y, t0) {
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
    if (reply.seq < this.latest) {
      this.dropped++;
      return null;
    }
    this.latest = reply.seq;
    const received = performance.now();
    this.paint(reply);
    const painted = await afterPaint();
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
  }
}
