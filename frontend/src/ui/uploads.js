// Uploading a dataset: one request per file (an image or a zip archive) to the images endpoint,
// so that each file has its own progress and its own refusal in the API's words, and one refused
// file does not take the others with it (the endpoint is all or nothing per request).

// The files of a drop: folders are walked (webkitGetAsEntry), so dropping a folder of images
// uploads each of them.
export async function droppedFiles(dataTransfer) {
  const entries = [...(dataTransfer.items ?? [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...(dataTransfer.files ?? [])];
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      out.push(await new Promise((res, rej) => entry.file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries answers in batches until an empty one.
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

// Skip what is plainly not an image or an archive before spending a request on it (the server
// still decides: a .png that is not a PNG is refused there, with its reason).
const ACCEPTED = /\.(jpe?g|png|webp|tiff?|bmp|gif|zip)$/i;
export function worthSending(file) {
  return ACCEPTED.test(file.name) && !file.name.split("/").pop().startsWith(".");
}

export function detailOf(status, text) {
  try {
    const body = JSON.parse(text);
    if (body?.detail) return String(body.detail);
    if (body && typeof body === "object") {
      return Object.entries(body)
        .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`)
        .join("; ");
    }
  } catch {
    // An HTML error page (a proxy's 413): say the status.
  }
  if (status === 413) return "The file is larger than the server accepts.";
  return `HTTP ${status}`;
}

// POST one file; onProgress(loaded, total) while its bytes go up. Resolves to
// {ok, status, images?, detail?}; never rejects on an HTTP error, which is the file's outcome.
export function uploadOne(url, file, csrf, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        let images = [];
        try {
          images = JSON.parse(xhr.responseText);
        } catch {
          images = [];
        }
        resolve({ ok: true, status: xhr.status, images });
      } else {
        resolve({ ok: false, status: xhr.status, detail: detailOf(xhr.status, xhr.responseText) });
      }
    };
    xhr.onerror = () => resolve({ ok: false, status: 0, detail: "The connection failed." });
    const body = new FormData();
    body.append("files", file, file.name);
    xhr.send(body);
  });
}

// Overall progress over files of different sizes: bytes sent over bytes to send.
export function overall(progress) {
  let sent = 0;
  let total = 0;
  for (const { loaded, size } of progress) {
    sent += Math.min(loaded, size);
    total += size;
  }
  return total ? sent / total : 1;
}

// Round-robin assignment of a selection over several annotators, in the selection's order.
export function roundRobin(imageIds, userIds) {
  if (!userIds.length) return [];
  return imageIds.map((id, i) => [id, userIds[i % userIds.length]]);
}
