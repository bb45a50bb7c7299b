// Getting the decoder and each image's embedding into the worker, with the waiting states shown:
// "exporting" while the server builds the decoder files, "computing" while it embeds the image,
// a download percentage, then the worker's per-image step. The next image's embedding is
// fetched ahead (prefetch) so that N finds it already here.
import { ApiError } from "./api.js";
import { fetchEmbedding } from "./embedding.js";
import { waitForManifest } from "./loading.js";
import { routes } from "./routes.js";

export async function startDecoder({ decoder, notices, project, numThreads }) {
  const manifestUrl = project.sam_model?.manifest_url;
  if (!manifestUrl) {
    throw new ApiError(404, "the project's model has not been resolved by a worker yet, so there are no decoder files");
  }
  await waitForManifest(manifestUrl, {
    onWait: () =>
      notices.show("decoder", "The decoder files for this project's model are being exported; masks appear when they are ready.", { level: "info" }),
  });
  notices.clear("decoder");
  // The API serves the graphs under files/, where a copy of the manifest lies too; the worker
  // resolves graph names against the manifest's URL, so it is given that copy.
  const filesManifest = new URL("files/manifest.json", new URL(manifestUrl, location.href)).href;
  return decoder.load(filesManifest, { numThreads });
}

export class EmbeddingLoader {
  constructor({ decoder, notices, onState }) {
    this.decoder = decoder;
    this.notices = notices;
    this.onState = onState; // (text) -> void, the short status next to the image name
    this.prefetched = new Map(); // image id -> Promise<ArrayBuffer | null>
  }

  prefetch(id) {
    if (!id || this.prefetched.has(id)) return;
    // A failed prefetch is forgotten, so opening that image asks again (and shows the error then).
    const p = fetchEmbedding(routes.embedding(id), { maxWaitMs: 120000 }).catch(() => {
      this.prefetched.delete(id);
      return null;
    });
    this.prefetched.set(id, p);
  }

  async embed(image) {
    let buffer = await this.prefetched.get(image.id);
    this.prefetched.delete(image.id);
    if (!buffer) {
      buffer = await fetchEmbedding(image.embedding_url ?? routes.embedding(image.id), {
        onState: (s) => {
          if (s.state === "computing") {
            this.onState("embedding: computing on the server…");
            this.notices.show("embedding", "The server is still computing this image's embedding; masks appear as soon as it is ready.", { level: "info" });
          } else {
            const pct = s.total ? Math.round((100 * s.loaded) / s.total) : 0;
            this.onState(`embedding: downloading ${pct}%`);
          }
        },
      });
    }
    this.notices.clear("embedding");
    this.onState("embedding: preparing…");
    const reply = await this.decoder.embed(image.id, buffer, [image.height, image.width]);
    this.onState(`ready (prepare ${reply.ms.toFixed(0)} ms)`);
    return reply;
  }
}
