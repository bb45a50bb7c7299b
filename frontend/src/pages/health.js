// The smallest page: proves that the bundle is served, that the page is cross-origin isolated
// (needed for onnxruntime-web's threaded WASM), and that the API answers.
async function main() {
  const el = document.getElementById("status");
  const isolated = globalThis.crossOriginIsolated === true;
  let api = "unreachable";
  try {
    const r = await fetch("/healthz");
    api = r.ok ? (await r.json()).status : `HTTP ${r.status}`;
  } catch (e) {
    api = String(e);
  }
  el.dataset.isolated = String(isolated);
  el.dataset.api = api;
  el.textContent = `cross-origin isolated: ${isolated}; server: ${api}`;
}
main();
